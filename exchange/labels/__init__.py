"""Certification, grading, signed QR labels and their verification (碳标识认证与分级)."""
