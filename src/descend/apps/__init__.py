"""Applications built on the layers below: tables (`tabular`), settings search (`tuning`), the optimizer
benchmark (`bench`). Each one's docstring says what it may import (never cli).
"""
