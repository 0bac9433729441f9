"""The SubmitQueue gateway: the HTTP API, and the only writer of the request log.

`storage` owns the gateway's tables (request log, request summaries, the change-URI index);
`materializer` folds log entries into summaries with the winner rules of submitqueue-spec §3.5;
`service` is the API's behaviour without HTTP; `api` maps it onto FastAPI under `/api/v1`.
"""
