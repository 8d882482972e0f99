-- TrainDispatchModel trains in the background (issue #18): a version is
-- stored when its training starts, `training`, and becomes `ready` with its
-- parameters and figures, or `failed` with the reason. `heartbeat_us` is
-- renewed by the training task while it runs: a `training` row whose
-- heartbeat is older than the lease belongs to a process that stopped (a
-- restart) and is marked failed. At most one training at a time: the
-- partial unique index admits one `training` row.
ALTER TABLE dispatch_models ADD COLUMN state TEXT NOT NULL DEFAULT 'ready';
ALTER TABLE dispatch_models ADD COLUMN failure TEXT;
ALTER TABLE dispatch_models ADD COLUMN heartbeat_us BIGINT;
CREATE UNIQUE INDEX dispatch_models_one_training ON dispatch_models (state) WHERE state = 'training';
