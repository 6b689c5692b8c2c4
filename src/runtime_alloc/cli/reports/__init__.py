"""What the subcommands write: the table, JSON (with its schemas), CSV and the plot.

* :mod:`~runtime_alloc.cli.reports.table`: the ``simulate`` comparison table and verdicts;
* :mod:`~runtime_alloc.cli.reports.json_report`: the JSON envelope and the shipped JSON
  Schemas (``simulate.schema.json``, ``bench.schema.json``);
* :mod:`~runtime_alloc.cli.reports.csv_report`: one CSV row per strategy;
* :mod:`~runtime_alloc.cli.reports.plot`: the ``--plot`` figure (matplotlib).
"""
