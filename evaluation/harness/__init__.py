"""The drift-detector evaluation harness behind `driftline drift-eval`.

Everything runs offline on River's synthetic generators with known drift points
and fixed seeds, so the same command prints the same table (timings aside).
:mod:`.streams` holds the streams; :mod:`.concept_detectors` and
:mod:`.data_detectors` the detector settings under test, compared against the
:mod:`.baselines` (never / random); :mod:`.scoring` turns alarms into delays,
misses and false alarms; :mod:`.runner` runs every (stream, seed) in worker
processes into one result document, and :mod:`.report` prints it as markdown
tables. The command itself is :mod:`driftline.evaluation.drift_eval`.
"""
