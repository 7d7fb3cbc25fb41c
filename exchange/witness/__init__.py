"""Witnessed logs (C2SP tlog-witness, tlog-cosignature): this exchange cosigns the
checkpoints of partners' logs after checking their consistency (:mod:`.services`), has its
own log's checkpoints cosigned by its configured witnesses (:mod:`.collect`), and names
them and the policy (k of n) in the signed trust list (:mod:`.policy`), so that nobody can
be shown a log the witnesses did not see."""
