"""Account scores: buying groups scored as a whole.

Health systems and payers buy through committees (a clinical champion, IT
security, compliance and legal, finance), and reps work accounts, not single
leads. This package scores an account (the leads sharing an ``account_id``): the
probability that it produces at least one SQL within the horizon, a 0-100 score,
a tier and an MQA flag (a marketing qualified account), which committee roles are
engaged, recently active, known but silent or missing, the missing role that would
raise the score most, and points per signal that add up to the score.

One job per module: :mod:`.members` (the account rows and their member leads at a
moment), :mod:`.fitting` (account rows and labels from the export, the methods
compared on the validation period; called by ``training.train``), :mod:`.scores`
(accounts scored from scored leads: the account file, ``POST /score`` and the lead
card; ``account_records`` gives the same rows as dicts, the service's path). The
account model itself is ``mqlscore.models.account``; it is stored with the
``ScoringModel`` (``ScoringModel.accounts``). See ``docs/accounts.md``.
"""

from __future__ import annotations

from mqlscore.accounts.fitting import AccountCandidate, AccountTraining, fit_accounts
from mqlscore.accounts.members import MemberArrays, Members, member_arrays, members_at
from mqlscore.accounts.scores import (ACCOUNT_COLUMNS, account_file_frame, account_records, evidence_for,
                                      score_accounts, score_open_accounts)

__all__ = ["ACCOUNT_COLUMNS", "AccountCandidate", "AccountTraining", "MemberArrays", "Members", "account_file_frame",
           "account_records", "evidence_for", "fit_accounts", "member_arrays", "members_at", "score_accounts",
           "score_open_accounts"]
