"""Disclosure regime (信息披露): what companies must disclose, by when, and who has."""
