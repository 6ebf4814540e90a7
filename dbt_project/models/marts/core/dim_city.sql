-- 市州维表: the province and its 14 cities.
select
    cast(code as text)        as city_code,
    cast(name as text)        as city_name,
    cast(level as text)       as level,
    cast(longitude as numeric(10, 6)) as longitude,
    cast(latitude as numeric(10, 6))  as latitude
from {{ ref('hunan_divisions') }}
where level in ('province', 'city')
