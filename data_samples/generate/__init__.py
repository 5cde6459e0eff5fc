"""Seeded generator of realistic synthetic monthly deliveries plus ground truth.

Everything here is synthetic: names are drawn from character pools, ID numbers are built
from random birth dates and sequence numbers (valid GB 11643 check digits), no real person
is represented. The generator depends on nothing of the project: it owns its model of what
agencies deliver (`contract`) and reads the rule list from the headers of `sql/rules/*.sql`.

It keeps a *world model* (true households, persons, registry membership per month, clean
agency records), renders it into messy deliveries (`<out>/inbox/<YYYY-MM>/…`, see
shared/spec/extracts.md) and writes the ground truth (`<out>/truth/links.csv`, `flags.csv`,
`persons.csv`) computed from the world model alone, never from pipeline code.

    python -m data_samples.generate --out DIR --households N --months K --start 2026-07 --seed S

Modules, by job:
  world        regions, households, persons (names, IDs), registry membership, namesakes
  records      the clean agency records (background) and the frames rendered from them
  planting     one planting per rule (registered by code) and its near misses
  corruptions  how values get mangled (corruption.yaml)
  deliveries   formats, encodings and messiness per file; rendering and writing
  truth        which flags fire and the files under truth/
  rules        the rule list, read from the rule files' headers
  contract     the agencies' delivery format (sources, headers, coded values)
  build        `generate`: all of the above in order
  cli          the command line
"""

from data_samples.flag_ids import flag_id
from data_samples.generate.build import DEFAULT_PARAMS, GenerationSummary, build_world, generate
from data_samples.generate.cli import main
from data_samples.generate.corruptions import load_rates
from data_samples.generate.deliveries import FORMATS
from data_samples.generate.rules import RULE_PREVIOUS, RULE_SOURCES, RULES
from data_samples.generate.world import PREFECTURE, Shape, county_codes, id_check_digit, is_valid_id

__all__ = [
    "DEFAULT_PARAMS",
    "FORMATS",
    "PREFECTURE",
    "RULES",
    "RULE_PREVIOUS",
    "RULE_SOURCES",
    "GenerationSummary",
    "Shape",
    "build_world",
    "county_codes",
    "flag_id",
    "generate",
    "id_check_digit",
    "is_valid_id",
    "load_rates",
    "main",
]
