//! The store conformance suite: one set of checks that every [`Store`]
//! backend must pass, run unchanged against SQLite and PostgreSQL.
//!
//! Why one suite: the API layer is written against the [`Store`] trait, not
//! against a database, so the two backends must be indistinguishable through
//! it. They share one generic [`super::SqlStore`] and the same SQL, yet they
//! still differ underneath — column types (SQLite's dynamic typing against
//! PostgreSQL's `int4`/`int8`/`boolean`), how a lost write race or a broken
//! foreign key is reported, locking (`BEGIN IMMEDIATE` against row locks under
//! READ COMMITTED) and text ordering. Each check below states one promise of
//! the trait in terms of observable behaviour and is run on both, so a
//! backend-specific slip shows up as a failing check rather than as a
//! production incident.
//!
//! This is library code rather than `#[cfg(test)]` so integration tests
//! (`tests/store_conformance.rs`, one `#[tokio::test]` per check) can call it,
//! and any future backend can be held to the same contract. Checks panic with
//! a description on the first broken promise; each takes a fresh, empty store
//! (see [`super::testing::TestBackend::fresh_store`]). Times are fixed instants with
//! microsecond parts — stores keep microseconds — and never the system clock.
//!
//! [`Store`]: super::Store

mod attachments;
mod co_units;
mod concurrency;
mod concurrent_changes;
mod directory;
mod dispatch;
mod events;
mod feed;
mod fixtures;
mod hotspots;
mod idempotency;
mod knowledge;
mod lists;
mod merges;
mod metrics;
mod models;
mod numbers;
mod pii;
mod plans;
mod report;
mod retries;
mod routing;
mod sealing;
mod sketches;
mod transitions;
mod webhooks;
mod write_paths;

pub use attachments::{
    attachments_become_visible_only_when_complete, attachments_list_in_upload_order_and_page,
    stale_uploads_and_expired_files_are_found,
};
pub use co_units::{
    co_units_round_trip_and_widen_the_unit_scope, create_ticket_with_followups_stores_every_event,
    redispatch_replaces_co_unit_scope_rows,
};
pub use concurrency::{
    concurrent_intakes_each_get_their_own_outcome, concurrent_publishes_get_distinct_versions,
    concurrent_transitions_admit_exactly_one,
};
pub use concurrent_changes::concurrent_changes_each_get_their_own_outcome;
pub use directory::{
    count_units_counts_the_directory, dispatch_to_unknown_unit_fails_and_writes_nothing,
    regions_create_get_and_list, units_create_get_and_list,
};
pub use dispatch::dispatch_and_return_fields_round_trip;
pub use events::events_written_by_earlier_versions_stay_readable;
pub use feed::{
    feed_readers_miss_nothing_under_concurrent_writes,
    feed_reads_commits_in_order_after_a_position, the_feed_index_summarizes_what_is_new,
};
pub use hotspots::{
    hotspot_decisions_check_state_and_audit, hotspot_lists_filter_page_and_follow_changes,
    hotspots_are_recorded_once_and_grow, overdue_hotspots_are_alerted_once,
    the_detector_reads_new_tickets_in_log_order,
};
pub use idempotency::{
    expired_idempotency_keys_are_purged_oldest_first, idempotency_keys_record_what_they_produced,
    reused_idempotency_key_is_rejected_and_writes_nothing,
};
pub use knowledge::{
    article_uses_count_citations_in_a_period, articles_keep_versions_and_audit_every_change,
    concurrent_article_writes_take_distinct_change_numbers,
    keyed_article_writes_record_what_they_produced,
    served_changes_follow_publication_in_change_order,
};
pub use lists::{
    list_tickets_filters, list_tickets_oldest_first_orders_and_pages,
    list_tickets_pages_without_gaps_or_duplicates,
};
pub use merges::{a_stale_merge_writes_nothing, merging_commits_every_ticket_and_undoes};
pub use metrics::{
    commits_are_announced_once_after_commit, counters_sum_by_scope_and_explain_by_ticket,
    frozen_months_keep_their_sums, month_totals_sum_as_their_days,
};
pub use models::{
    dispatch_model_trainings_run_one_at_a_time,
    dispatch_models_are_versioned_activated_and_audited, unit_retirements_round_trip,
};
pub use numbers::{
    concurrent_creates_get_distinct_numbers, ticket_numbers_follow_the_daily_sequence,
};
pub use pii::{
    a_bulk_pii_read_is_one_row_found_by_each_ticket, a_failing_pii_record_fails_only_its_own_read,
    concurrent_pii_reads_are_all_recorded, pii_access_is_logged_per_ticket,
    pii_access_lists_filter_and_page, pii_access_purge_removes_only_old_rows,
};
pub use plans::every_list_reads_its_page_off_an_index;
pub use report::ticket_volumes_group_the_periods_tickets;
pub use retries::{
    concurrent_uses_of_one_key_commit_once, idempotency_records_from_before_fingerprints_have_none,
    idempotency_records_keep_the_first_fingerprint,
};
pub use routing::{
    activate_rule_set_rolls_back, draft_rules_create_update_delete_and_list,
    list_rule_sets_pages_newest_first, publish_assigns_versions_and_activates,
    published_rule_sets_are_immutable,
};
pub use sealing::{
    a_new_index_key_with_a_new_data_key_reindexes_on_rotation, caller_data_is_sealed_at_rest,
    key_rotation_reseals_old_and_clear_rows, sketches_follow_a_new_index_key,
};
pub use sketches::{
    open_place_reads_match_the_per_state_parts, sketches_follow_the_text_and_read_like_the_list,
};
pub use transitions::{
    apply_transition_commits_ticket_and_event, get_ticket_round_trips_every_field,
    list_events_orders_and_pages, stale_version_conflicts_and_writes_nothing,
    unknown_rows_are_not_found,
};
pub use webhooks::{
    webhook_claims_are_exclusive, webhook_deliveries_keep_ticket_order_retry_and_dead_letter,
    webhook_fan_out_writes_one_delivery_per_matching_subscription,
    webhook_secrets_are_resealed_on_rotation, webhook_subscriptions_round_trip,
};
pub use write_paths::{
    a_stale_change_writes_none_of_its_rows, naive_intake_writes_what_create_ticket_writes,
};
