use std::collections::BTreeMap;

use crate::cluster::selector::Selector;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn matching() {
    let shop = labels(&[("team", "shop"), ("env", "prod")]);
    let bare = labels(&[]);
    // (selector, matches shop, matches bare)
    let cases: &[(&str, bool, bool)] = &[
        ("", true, true),
        ("team", true, false),
        ("!team", false, true),
        ("team=shop", true, false),
        ("team==shop", true, false),
        ("team!=shop", false, true),
        ("team != web", true, true),
        ("team in (shop, web)", true, false),
        ("team in (web)", false, false),
        ("team notin (web,db)", true, true),
        ("team notin (shop)", false, true),
        ("team=shop,env=prod", true, false),
        ("team=shop, env in (dev)", false, false),
        ("example.com/owner", false, false),
        ("team in (shop,web),!gone", true, false),
    ];
    for (text, want_shop, want_bare) in cases {
        let s = Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(s.matches(&shop), *want_shop, "{text:?} on shop");
        assert_eq!(s.matches(&bare), *want_bare, "{text:?} on no labels");
    }
}

#[test]
fn errors_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("team=shop,", "empty requirement"),
        ("team in shop", "parenthesised list"),
        ("team within (a)", "unknown operator"),
        ("-team", "invalid key"),
        ("team=sh op", "invalid value"),
        ("Bad_Prefix/x=1", "invalid key prefix"),
        ("team in (a,b", "parenthesised list"),
    ];
    for (text, want) in cases {
        let e = Selector::parse(text).expect_err(text).to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn keeps_the_text_for_the_api() {
    assert_eq!(
        Selector::parse(" app=web,tier!=db ").unwrap().as_str(),
        "app=web,tier!=db"
    );
}
