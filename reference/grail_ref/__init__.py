"""grail_ref: an independent Python reference of the grail protocol derivations.

Written from protocol/README.md alone; every module maps to one section of that text.
"""
