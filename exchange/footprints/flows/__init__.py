"""Data-flow supervision (数据流通监管): who received which non-public record, when, how.

Part of the footprints area: a share is a transfer, so sharing records the flow in the same
transaction, and every flow names a record of footprints; the PACT host and mutual
recognition record theirs here too."""
