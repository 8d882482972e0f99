-- The overdue alert of a hotspot's supervision item (issue #18): when the
-- 5-hour first response passes unanswered, the sweep of some replica raises
-- one alert on WatchAlerts. `overdue_alert_seq` is the change number of the
-- write that raised it (NULL: not raised). The write is conditional on the
-- column being NULL and the item unanswered, inside the change sequence's
-- lock, so however many replicas sweep, one raises it and only once; the
-- sweep finds candidates through `hotspots_unanswered`.
ALTER TABLE hotspots ADD COLUMN overdue_alert_seq BIGINT;
