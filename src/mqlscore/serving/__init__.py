"""The scoring service, apart from its BentoML glue (``bento/service.py``).

One module per job, dependencies pointing one way:

- :mod:`.schemas` request and response models; :mod:`.errors` the one error shape;
- :mod:`.tables` a request as the data contract's tables (the contract's own validation);
- :mod:`.engine` the loaded model that scores requests; :mod:`.batching` requests sharing a model call;
- :mod:`.auth` the API key and the lead card's session; :mod:`.context` the request's log record;
- :mod:`.guard` the ASGI middleware in front of every route; :mod:`.leadcard` the page at ``/ui``;
  :mod:`.routes` ``GET /model`` and the lead card's routes;
- :mod:`.startup` process start-up (logging, model load, self-test);
  :mod:`.packaging` ``mqlscore build`` and ``mqlscore serve``.

Nothing here computes a feature or a score of its own: requests are normalised by
``mqlscore.contract.validate_tables`` and scored by ``ScoringModel.score``, as in
batch scoring.
"""
