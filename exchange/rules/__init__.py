"""The accounting rules list (核算规则清单), the demand catalogue, and rule checks on records."""
