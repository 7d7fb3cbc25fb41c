"""Application scenarios of the programme: green procurement, disclosure, carbon inclusion."""
