"""Partner programmes: foreign footprint programmes, their trust anchors, and the
agreements the regulator makes with them (the register), with the tables of what mutual
recognition decided about their records.

The register is read below mutual recognition: the data-flow record attributes a transfer
to the agreement in force with the recipient's programme, and the signed trust list names
the programmes. Changing it (onboarding, status, agreements) is mutual recognition's
(:mod:`exchange.mutual_recognition.services.programmes`), since every change reaches the
recognitions that depend on it.
"""
