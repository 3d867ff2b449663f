"""Applications built on the layers below: tables (`tabular`), settings search (`tuning`), the optimizer
benchmark (`bench`).

May import: core, optim, doctor, runs, fit, minimize, and each other (tuning uses tabular). Never cli.
"""
