"""Example managers written here from the seeds, behind the adapter protocol (see ../run.py)."""
