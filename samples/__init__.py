"""The sample generator: deterministic city submissions for demos, tests and benchmarks.

Modules, each importing only those before it: ``rng`` (keyed random streams), ``calendar``
(which months a city submits), ``entities`` (cities, parks, investors), ``projects``,
``trade`` (goods and services trade), ``workbooks`` (writing the xlsx and CSV files),
``cases`` (the catalogue of planted mistakes), ``errors`` (planting them) and ``generate``
(the entry point, :func:`samples.generate.generate`).
"""
