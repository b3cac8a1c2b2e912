//! `System.Account`: an account's nonce and balance as subtensor stores them
//! (`AccountInfo<u32, AccountData<u64>>`; the layout is checked against the metadata's type in
//! the tests).

use parity_scale_codec::{Decode, Encode};

/// `pallet_balances::AccountData<u64>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct AccountData {
    pub free: u64,
    pub reserved: u64,
    pub frozen: u64,
    pub flags: u128,
}

/// `frame_system::AccountInfo<u32, AccountData<u64>>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct AccountInfo {
    pub nonce: u32,
    pub consumers: u32,
    pub providers: u32,
    pub sufficients: u32,
    pub data: AccountData,
}

impl AccountInfo {
    /// A funded account, as a genesis balance makes it.
    pub fn funded(free: u64) -> Self {
        Self {
            providers: 1,
            data: AccountData { free, ..AccountData::default() },
            ..Self::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
    use scale_value::{At, Value};

    #[test]
    fn the_layout_is_the_metadatas_account_info() {
        let md = checked_metadata(FINNEY_METADATA, "finney.scale").unwrap();
        let ty = md
            .pallet_by_name("System")
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name("Account"))
            .unwrap()
            .value_ty();
        let mut info = AccountInfo::funded(123_456_789);
        info.nonce = 7;
        info.data.frozen = 5;
        let bytes = info.encode();
        let mut input = bytes.as_slice();
        let v: Value<u32> = scale_value::scale::decode_as_type(&mut input, ty, md.types()).unwrap();
        assert!(input.is_empty());
        let num = |v: Option<&Value<u32>>| v.and_then(Value::as_u128).unwrap();
        assert_eq!(num(v.at("nonce")), 7);
        assert_eq!(num(v.at("providers")), 1);
        assert_eq!(num(v.at("data").at("free")), 123_456_789);
        assert_eq!(num(v.at("data").at("frozen")), 5);
        assert_eq!(AccountInfo::decode(&mut bytes.as_slice()).unwrap(), info);
    }
}
