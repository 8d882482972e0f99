use super::*;

fn new_id() -> TicketId {
    TicketId::generate(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap())
}

fn clear() -> PiiValues {
    PiiValues {
        caller_name: Some("张三".into()),
        caller_phone: Some("13800131234".into()),
        address: "西湖区文三路 90 号".into(),
        description: "夜间施工，电话 13800131234".into(),
        callback_comment: None,
    }
}

fn keyring(ids: &[(&str, u8)], current: Option<&str>) -> PiiKeyring {
    use base64::engine::general_purpose::STANDARD;
    let mut text = format!("{INDEX_KEY_ID} {}\n", STANDARD.encode([9u8; 32]));
    for (id, byte) in ids {
        text.push_str(&format!("{id} {}\n", STANDARD.encode([*byte; 32])));
    }
    PiiKeyring::parse(&text, current).unwrap()
}

#[test]
fn sealed_values_hide_the_clear_text_and_open_again() {
    let codec = PiiCodec::new(keyring(&[("k1", 1)], None));
    let id = new_id();
    let sealed = codec.seal_values(id, clear()).unwrap();
    assert_eq!(sealed.key_id, "k1");
    let all = format!("{:?}", sealed.values);
    for secret in ["张三", "13800131234", "文三路", "施工"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    assert!(sealed.values.address.starts_with("pii1:k1:"));
    let opened = codec
        .open_values(&id.to_string(), Some("k1"), sealed.values)
        .unwrap();
    assert_eq!(opened, clear());
}

#[test]
fn the_same_value_seals_differently_each_time() {
    let codec = PiiCodec::new(keyring(&[("k1", 1)], None));
    let id = new_id();
    let a = codec.seal_values(id, clear()).unwrap();
    let b = codec.seal_values(id, clear()).unwrap();
    assert_ne!(a.values.caller_phone, b.values.caller_phone);
    assert_eq!(a.phone_index, b.phone_index, "the blind index is stable");
}

#[test]
fn a_value_moved_to_another_row_or_column_does_not_open() {
    let codec = PiiCodec::new(keyring(&[("k1", 1)], None));
    let id = new_id();
    let sealed = codec.seal_values(id, clear()).unwrap();
    let other = new_id().to_string();
    assert!(
        codec
            .open_values(&other, Some("k1"), sealed.values.clone())
            .is_err()
    );
    let mut swapped = sealed.values;
    std::mem::swap(&mut swapped.address, &mut swapped.description);
    let err = codec
        .open_values(&id.to_string(), Some("k1"), swapped)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be opened"), "{err}");
    assert!(!err.contains("文三路"));
}

#[test]
fn old_keys_still_open_and_new_writes_use_the_current_key() {
    let old = PiiCodec::new(keyring(&[("k1", 1)], None));
    let id = new_id();
    let sealed = old.seal_values(id, clear()).unwrap();
    let rotated = PiiCodec::new(keyring(&[("k1", 1), ("k2", 2)], None));
    assert_eq!(rotated.current_key_id(), Some("k2"));
    let opened = rotated
        .open_values(&id.to_string(), Some("k1"), sealed.values.clone())
        .unwrap();
    assert_eq!(opened, clear());
    let resealed = rotated.seal_values(id, opened).unwrap();
    assert_eq!(resealed.key_id, "k2");
    assert!(resealed.values.address.starts_with("pii1:k2:"));
    assert_eq!(resealed.phone_index, sealed.phone_index, "same index key");
    let without_k1 = PiiCodec::new(keyring(&[("k2", 2)], None));
    let err = without_k1
        .open_values(&id.to_string(), Some("k1"), sealed.values)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"k1\", which is not configured"), "{err}");
}

#[test]
fn rows_from_before_encryption_read_as_clear_text() {
    let codec = PiiCodec::new(keyring(&[("k1", 1)], None));
    assert_eq!(codec.open_values("x", None, clear()).unwrap(), clear());
    assert_eq!(
        PiiCodec::disabled()
            .open_values("x", None, clear())
            .unwrap(),
        clear()
    );
}

#[test]
fn a_disabled_codec_refuses_to_seal_or_open() {
    let codec = PiiCodec::disabled();
    assert!(codec.seal_values(new_id(), clear()).is_err());
    assert!(codec.open_values("x", Some("k1"), clear()).is_err());
    assert!(codec.phone_index("13800131234").is_err());
}

#[test]
fn the_blind_index_depends_on_the_index_key() {
    let a = PiiCodec::new(keyring(&[("k1", 1)], None));
    let b = PiiCodec::ephemeral();
    let n = "13800131234";
    assert_eq!(a.phone_index(n).unwrap(), a.phone_index(n).unwrap());
    assert_ne!(a.phone_index(n).unwrap(), b.phone_index(n).unwrap());
    assert_ne!(
        a.phone_index(n).unwrap(),
        a.phone_index("13800131235").unwrap()
    );
    assert!(!a.phone_index(n).unwrap().contains(n));
}
