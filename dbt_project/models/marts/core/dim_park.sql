-- 园区维表: every park of the province's list with its city.
select
    cast(p.park_code as text) as park_code,
    cast(p.park_name as text) as park_name,
    cast(p.level as text)     as park_level,
    cast(p.city_code as text) as city_code,
    cast(c.name as text)      as city_name
from {{ ref('hunan_parks') }} as p
inner join {{ ref('hunan_divisions') }} as c
    on c.code = p.city_code
