"""The factor database (因子数据库): emission and product factors, their declaration and review."""
