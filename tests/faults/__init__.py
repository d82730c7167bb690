"""The fault catalogue (issue 12): one parametrized test per row, run through the real entry points."""
