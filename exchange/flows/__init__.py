"""Data-flow supervision (数据流通监管): who received which non-public record, when, how."""
