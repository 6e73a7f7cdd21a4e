"""Errors that reach the user as one line and exit code 2: kept in a module that imports
nothing, so the command line can name them without loading the verifier."""


class CampaignError(ValueError):
    """Options that do not fit the engine (an op it lacks, no second derivatives…)."""
