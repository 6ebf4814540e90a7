-- 市州维表: the province and its 14 cities.
select
    code::text        as city_code,
    name::text        as city_name,
    level::text       as level,
    longitude::numeric(10, 6) as longitude,
    latitude::numeric(10, 6)  as latitude
from {{ ref('hunan_divisions') }}
where level in ('province', 'city')
