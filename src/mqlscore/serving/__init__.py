"""The scoring service, apart from its BentoML glue (``bento/service.py``).

One module per job, dependencies pointing one way:

- :mod:`.schemas` request and response models; :mod:`.errors` the one error shape;
  :mod:`.openapi` the API document with every answer the service gives;
- :mod:`.tables` a request as the data contract's tables (the contract's own validation);
- :mod:`.engine` the loaded model that scores requests; :mod:`.batching` requests sharing a model call;
- :mod:`.auth` the API key; :mod:`.sessions` the lead card's sign-in sessions, sign-out and
  sign-in brake; :mod:`.context` the request's log record;
- :mod:`.guard` the ASGI middleware in front of every route; :mod:`.labels` route labels for logs and
  metrics; :mod:`.timeouts` slow-client clocks;
- :mod:`.leadcard` the page at ``/ui``; :mod:`.uploads` bounded reading of scored files;
  :mod:`.routes` ``GET /model`` and the lead card's routes;
- :mod:`.startup` process start-up (logging, model load, self-test);
  :mod:`.packaging` ``mqlscore build`` and ``mqlscore serve``.

Nothing here computes a feature or a score of its own: requests are normalised by
``mqlscore.contract.validate_tables`` and scored by ``ScoringModel.score``, as in
batch scoring.
"""
