// @generated automatically by Diesel CLI.

diesel::table! {
    conflicts (id) {
        id -> Int8,
        entity -> Text,
        crm_id -> Nullable<Text>,
        siagh_code -> Nullable<Text>,
        field -> Text,
        base_value -> Nullable<Text>,
        crm_value -> Nullable<Text>,
        siagh_value -> Nullable<Text>,
        resolution -> Text,
        policy -> Text,
        job_id -> Nullable<Int8>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    crm_kinds (crm_id) {
        crm_id -> Text,
        kind -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    entity_links (id) {
        id -> Int8,
        entity -> Text,
        crm_id -> Nullable<Text>,
        siagh_code -> Nullable<Text>,
        crm_kind -> Nullable<Text>,
        state -> Text,
        attempt_id -> Nullable<Text>,
        crm_checksum -> Nullable<Text>,
        siagh_checksum -> Nullable<Text>,
        base_snapshot -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    finance_seen (code) {
        code -> Text,
        checksum -> Text,
        snapshot -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    poll_cursors (name) {
        name -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sync_control (scope) {
        scope -> Text,
        paused -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sync_jobs (id) {
        id -> Int8,
        entity -> Text,
        record_id -> Text,
        kind_hint -> Nullable<Text>,
        event -> Text,
        source -> Text,
        status -> Text,
        attempts -> Int4,
        run_at -> Timestamp,
        leased_by -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        direction -> Text,
        payload -> Nullable<Text>,
        source_checksum -> Nullable<Text>,
    }
}

diesel::table! {
    sync_log (id) {
        id -> Int8,
        job_id -> Nullable<Int8>,
        entity -> Text,
        record_id -> Text,
        direction -> Text,
        action -> Text,
        source_snapshot -> Nullable<Text>,
        target_before -> Nullable<Text>,
        target_after -> Nullable<Text>,
        target_id -> Nullable<Text>,
        error -> Nullable<Text>,
        duration_ms -> Nullable<Int8>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(conflicts -> sync_jobs (job_id));
diesel::joinable!(sync_log -> sync_jobs (job_id));

diesel::allow_tables_to_appear_in_same_query!(
    conflicts,
    crm_kinds,
    entity_links,
    finance_seen,
    leases,
    poll_cursors,
    sync_control,
    sync_jobs,
    sync_log,
);
