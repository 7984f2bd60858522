"""``hwai sweep``: a search over recipe settings and methods on Ray Tune (ASHA + Optuna TPE).

* :mod:`hwai.sweep.space`   - the recipe's ``search:`` block: validation, Ray search space, overrides
* :mod:`hwai.sweep.trial`   - one trial: the normal recipe engine on a merged recipe, per-step reports
* :mod:`hwai.sweep.driver`  - the Ray Tune driver (local or ``--address``), resume, progress lines
* :mod:`hwai.sweep.results` - Pareto front, recommendation, sweep.json / sweep.md / report.html
"""
