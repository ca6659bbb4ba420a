//! The `Prefer` request header (`ApiRequest/Preferences.hs`): every `Prefer` header, split on
//! `,`, trimmed; the first value of each kind wins; unknown values are ignored unless
//! `handling=strict` asks for a 400.

/// `return=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Return {
    Representation,
    Minimal,
    HeadersOnly,
}

/// `count=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    Exact,
    Planned,
    Estimated,
}

/// `resolution=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

/// `missing=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    Default,
    Null,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Preferences {
    pub(crate) resolution: Option<Resolution>,
    pub(crate) representation: Option<Return>,
    pub(crate) count: Option<Count>,
    pub(crate) missing: Option<Missing>,
    pub(crate) strict: Option<bool>,
    pub(crate) timezone: Option<String>,
    pub(crate) max_affected: Option<i64>,
    /// `tx=commit|rollback`: accepted and, as in PostgREST's default configuration
    /// (`db-tx-end = commit`), not applied.
    tx: Option<String>,
    pub(crate) invalid: Vec<String>,
}

impl Preferences {
    /// Reads the values of every `Prefer` header, in order.
    pub(crate) fn parse<'a>(headers: impl IntoIterator<Item = &'a str>) -> Self {
        let mut p = Preferences::default();
        for value in headers
            .into_iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
        {
            match value {
                "resolution=merge-duplicates" => {
                    p.resolution.get_or_insert(Resolution::MergeDuplicates);
                }
                "resolution=ignore-duplicates" => {
                    p.resolution.get_or_insert(Resolution::IgnoreDuplicates);
                }
                "return=representation" => {
                    p.representation.get_or_insert(Return::Representation);
                }
                "return=minimal" => {
                    p.representation.get_or_insert(Return::Minimal);
                }
                "return=headers-only" => {
                    p.representation.get_or_insert(Return::HeadersOnly);
                }
                "count=exact" => {
                    p.count.get_or_insert(Count::Exact);
                }
                "count=planned" => {
                    p.count.get_or_insert(Count::Planned);
                }
                "count=estimated" => {
                    p.count.get_or_insert(Count::Estimated);
                }
                "missing=default" => {
                    p.missing.get_or_insert(Missing::Default);
                }
                "missing=null" => {
                    p.missing.get_or_insert(Missing::Null);
                }
                "handling=strict" => {
                    p.strict.get_or_insert(true);
                }
                "handling=lenient" => {
                    p.strict.get_or_insert(false);
                }
                "tx=commit" | "tx=rollback" => {
                    p.tx.get_or_insert_with(|| value.to_owned());
                }
                _ => {
                    if let Some(tz) = value.strip_prefix("timezone=") {
                        p.timezone.get_or_insert_with(|| tz.to_owned());
                    } else if let Some(n) = value.strip_prefix("max-affected=") {
                        if p.max_affected.is_none() {
                            p.max_affected = n.parse().ok();
                        }
                    } else {
                        p.invalid.push(value.to_owned());
                    }
                }
            }
        }
        p
    }

    /// Whether the total is counted (`exact`, and `estimated`, which is exact here: this server
    /// has no `db-max-rows`).
    pub(crate) fn counts(&self) -> bool {
        self.count.is_some()
    }

    /// `Preference-Applied`, in PostgREST's order, with what the action honoured.
    pub(crate) fn applied(
        &self,
        resolution: bool,
        missing: bool,
        representation: bool,
        max_affected: bool,
    ) -> Option<String> {
        let mut values: Vec<String> = Vec::new();
        if resolution {
            values.extend(self.resolution.map(|r| {
                match r {
                    Resolution::MergeDuplicates => "resolution=merge-duplicates",
                    Resolution::IgnoreDuplicates => "resolution=ignore-duplicates",
                }
                .to_owned()
            }));
        }
        if missing {
            values.extend(self.missing.map(|m| {
                match m {
                    Missing::Default => "missing=default",
                    Missing::Null => "missing=null",
                }
                .to_owned()
            }));
        }
        if representation {
            values.extend(self.representation.map(|r| {
                match r {
                    Return::Representation => "return=representation",
                    Return::Minimal => "return=minimal",
                    Return::HeadersOnly => "return=headers-only",
                }
                .to_owned()
            }));
        }
        values.extend(self.count.map(|c| {
            match c {
                Count::Exact => "count=exact",
                Count::Planned => "count=planned",
                Count::Estimated => "count=estimated",
            }
            .to_owned()
        }));
        values.extend(self.tx.clone());
        values.extend(self.strict.map(|s| {
            if s {
                "handling=strict"
            } else {
                "handling=lenient"
            }
            .to_owned()
        }));
        values.extend(self.timezone.as_ref().map(|tz| format!("timezone={tz}")));
        if max_affected && self.strict == Some(true) {
            values.extend(self.max_affected.map(|n| format!("max-affected={n}")));
        }
        (!values.is_empty()).then(|| values.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_of_each_kind_wins() {
        let p = Preferences::parse([
            "return=representation, count=exact",
            "return=minimal,resolution=merge-duplicates, nonsense",
        ]);
        assert_eq!(p.representation, Some(Return::Representation));
        assert_eq!(p.count, Some(Count::Exact));
        assert_eq!(p.resolution, Some(Resolution::MergeDuplicates));
        assert_eq!(p.invalid, vec!["nonsense".to_owned()]);
        assert_eq!(
            p.applied(true, true, true, true).as_deref(),
            Some("resolution=merge-duplicates, return=representation, count=exact")
        );
    }
}
