//! teep_agent::software::seal::Sealer::open, the Agent's sealed-file decoder (every key file
//! and store file of the software TEE goes through it), on arbitrary bytes, with a fixed
//! sealing key. The first byte picks the file role and whether the rest is opened as is or
//! first sealed and then changed in one byte.
//!
//! Invariants: arbitrary bytes never open (nothing forged without the key); a sealed file
//! opens to exactly what was sealed under its own role and name only; one changed byte makes
//! it fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teep_agent::SealingKey;
use teep_agent::software::seal::{Role, Sealer};

const ROLES: [Role; 9] = [
    Role::PrivateKey,
    Role::SecretKeys,
    Role::Image,
    Role::ImageMeta,
    Role::ManifestRecord,
    Role::Envelope,
    Role::Sequence,
    Role::Journal,
    Role::Index,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let sealer = Sealer::new(&SealingKey::new([7; 32]));
    let role = ROLES[usize::from(mode) % ROLES.len()];
    let name = "components/fuzz.img";
    if mode & 0x80 == 0 {
        if let Ok((plain, _)) = sealer.open(role, name, rest) {
            panic!("arbitrary bytes opened as a sealed file ({} bytes)", plain.len());
        }
        return;
    }
    let (sealed, _) = sealer.seal(role, name, rest);
    match sealer.open(role, name, &sealed) {
        Ok((plain, _)) => assert_eq!(plain.as_slice(), rest, "sealed file opened to other bytes"),
        Err(e) => panic!("a freshly sealed file does not open: {e}"),
    }
    assert!(sealer.open(role, "components/other.img", &sealed).is_err(), "name not bound");
    let other = ROLES[(usize::from(mode) + 1) % ROLES.len()];
    assert!(sealer.open(other, name, &sealed).is_err(), "role not bound");
    if !rest.is_empty() {
        let mut changed = sealed.clone();
        let at = usize::from(rest[0]) * 7 % changed.len();
        changed[at] ^= 1 | (mode & 0x7e);
        assert!(sealer.open(role, name, &changed).is_err(), "changed byte {at} not detected");
    }
});
