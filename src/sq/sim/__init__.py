"""A discrete-event simulator of merge-queue strategies on synthetic workloads (virtual time).

`workload` generates changes, `strategies` are the queues under test (ours drives the real
speculation engine), `ledger` records what each did, `metrics` scores and verifies it, `runner`
runs a scenario grid and `report` writes CSV, a chart and the markdown table. Times are integer
milliseconds of virtual time from the start of the simulation.
"""
