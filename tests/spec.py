"""Facts copied by hand from SPEC.md, the independent expectation tests compare the product with."""

# SPEC §4: every KPI code and its unit.
SPEC_KPI_UNITS = {
    "signed_projects": "个", "signed_investment": "亿元", "major_projects_signed": "个",
    "fortune500_projects": "个", "funds_domestic": "亿元", "fdi_actual": "亿美元", "funds_total": "亿元",
    "performance_rate": "%", "start_rate": "%", "production_rate": "%", "funds_rate": "%",
    "trade_total": "亿元", "exports": "亿元", "imports": "亿元", "trade_enterprises": "家",
    "park_enterprises": "家", "park_above_scale": "家", "factory_occupancy": "%", "tax_per_mu": "万元/亩",
    "services_trade": "亿美元", "trade_dependence": "%",
}
