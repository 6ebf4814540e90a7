-- 园区维表: every park of the province's list with its city.
select
    p.park_code::text as park_code,
    p.park_name::text as park_name,
    p.level::text     as park_level,
    p.city_code::text as city_code,
    c.name::text      as city_name
from {{ ref('hunan_parks') }} as p
inner join {{ ref('hunan_divisions') }} as c
    on c.code = p.city_code
