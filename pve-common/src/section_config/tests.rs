use serde_json::json;

use super::*;

/// The plugin set of upstream's section config test (unified mode).
fn unified() -> SectionConfig {
    let int_3_9 = |d: &str| {
        let mut s = Schema::of_type(JsonType::Integer).description(d);
        s.minimum = Some(3.into());
        s.maximum = Some(9.into());
        s
    };
    SectionConfig::builder()
        .base_property("type", Schema::default().description("Section type."))
        .base_property(
            "common",
            Schema::of_type(JsonType::String).description("common value"),
        )
        .base_property("comment", Schema::of_type(JsonType::String).optional())
        .base_property("disable", Schema::of_type(JsonType::Boolean).optional())
        .plugin(
            Plugin::new("one")
                .property_option("field1", int_3_9("Field One"), OptionSpec::REQUIRED)
                .property("another", Schema::of_type(JsonType::String))
                .option("another", OptionSpec::OPTIONAL)
                .option("common", OptionSpec::OPTIONAL)
                .option("comment", OptionSpec::OPTIONAL)
                .option("disable", OptionSpec::OPTIONAL),
        )
        .plugin(
            Plugin::new("two")
                .property_option("field2", int_3_9("Field Two"), OptionSpec::FIXED)
                .property_option(
                    "list",
                    Schema {
                        items: Some(Box::new(Schema::of_type(JsonType::String))),
                        ..Schema::of_type(JsonType::Array)
                    },
                    OptionSpec::OPTIONAL,
                )
                .option("another", OptionSpec::REQUIRED),
        )
        .build()
        .unwrap()
}

const TEXT: &str =
    "one: a\n\tfield1 3\n\tanother x y\n\ntwo: b\n\tlist l1\n\tfield2 9\n\tanother z\n\tlist l2\n";

#[test]
fn parse_types_values_and_keeps_order() {
    let cfg = unified();
    let data = cfg.parse("test.cfg", TEXT, false);
    assert!(data.diagnostics.is_empty(), "{:?}", data.diagnostics);
    assert_eq!(
        json!(data.ids),
        json!({
            "a": {"type": "one", "field1": 3, "another": "x y"},
            "b": {"type": "two", "field2": 9, "another": "z", "list": ["l1", "l2"]},
        })
    );
    assert_eq!(json!(data.order), json!({"a": 1, "b": 2}));
    assert_eq!(data.ordered_ids(), ["a", "b"]);
}

#[test]
fn digest_is_sha1_of_the_text() {
    let cfg = unified();
    assert_eq!(
        cfg.parse("x", "", false).digest,
        "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    );
    assert_eq!(
        parse::digest("abc"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
}

#[test]
fn write_orders_keys_like_upstream_and_round_trips() {
    let cfg = unified();
    let mut data = cfg.parse("t", TEXT, false);
    data.ids.get_mut("a").unwrap().extend([
        ("disable".to_string(), json!(1)),
        ("comment".to_string(), json!("hello")),
        ("common".to_string(), json!("c")),
        ("unused".to_string(), json!("dropped")),
    ]);
    let text = cfg.write("t", &data).unwrap();
    assert_eq!(
        text,
        "one: a\n\tcomment hello\n\tdisable\n\tfield1 3\n\tanother x y\n\tcommon c\n\n\
         two: b\n\tanother z\n\tfield2 9\n\tlist l1\n\tlist l2\n\n"
    );
    let again = cfg.parse("t", &text, false);
    assert!(again.diagnostics.is_empty(), "{:?}", again.diagnostics);
    let mut want = data.ids.clone();
    want.get_mut("a").unwrap().remove("unused");
    assert_eq!(again.ids, want);
    assert_eq!(again.order, data.order);
}

#[test]
fn diagnostics_carry_upstream_texts() {
    let cfg = unified();
    let raw = "one: a\n\tfield1 12\n\tbogus 1\n\tanother q\n\tanother r\n\tfield2 5\nstray\n\n\
               weird: c\n\tk v\n\ntwo: b\n\tanother z\n";
    let data = cfg.parse("f.cfg", raw, false);
    let texts: Vec<String> = data.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        texts,
        [
            "file f.cfg line 2 (section 'a') - unable to parse value of 'field1': value must have a maximum value of 9",
            "file f.cfg line 3 (section 'a') - unable to parse value of 'bogus': unknown property type",
            "file f.cfg line 5 (section 'a') - unable to parse value of 'another': duplicate attribute",
            "file f.cfg line 6 (section 'a') - unable to parse value of 'field2': unexpected property 'field2'",
            "file f.cfg line 7 (section 'a') - ignore config line: stray",
            "file f.cfg line 7 (skip section 'a'): missing value for required option 'field1'",
            "file f.cfg line 9 (skip section 'c'): unsupported type 'weird'",
            "file f.cfg line 13 (skip section 'b'): missing value for required option 'field2'",
        ]
    );
    assert!(data.ids.is_empty());
    assert_eq!(data.errors().len(), 4);
    assert_eq!(data.to_value()["errors"][0]["key"], "field1");
    assert!(cfg.parse_strict("f.cfg", raw, false).is_err());
    assert!(cfg.parse_strict("f.cfg", TEXT, false).is_ok());
}

#[test]
fn duplicate_ids_keep_the_later_section() {
    let cfg = unified();
    let raw = "one: a\n\tfield1 3\n\none: b\n\tfield1 4\n\none: a\n\tfield1 5\n";
    let data = cfg.parse("d", raw, false);
    assert_eq!(data.ids["a"]["field1"], json!(5));
    assert_eq!(json!(data.order), json!({"a": 3, "b": 2}));
    assert_eq!(data.diagnostics.len(), 1);
    assert_eq!(data.diagnostics[0].kind, DiagnosticKind::DuplicateSection);
    assert!(!data.diagnostics[0].upstream_warns());
}

#[test]
fn unknown_sections_only_with_allow_unknown() {
    let cfg = unified();
    let raw = "zzz: u\n\tb 2\n\tcomment c\n\ta 1\n\ta 2\n\tflag\n";
    let data = cfg.parse("u", raw, true);
    assert!(data.diagnostics.is_empty());
    assert_eq!(
        json!(data.ids["u"]),
        json!({"type": "zzz", "b": "2", "comment": "c", "a": ["1", "2"], "flag": null})
    );
    assert!(cfg.write("u", &data).is_err());
    let text = cfg.write_allow_unknown("u", &data).unwrap();
    assert_eq!(text, "zzz: u\n\tcomment c\n\ta 1\n\ta 2\n\tb 2\n\tflag\n\n");
}

#[test]
fn booleans_become_numbers_and_bare_keys_are_true() {
    let cfg = unified();
    let data = cfg.parse("b", "one: a\n\tfield1 03\n\tdisable\n", false);
    assert!(data.diagnostics.is_empty(), "{:?}", data.diagnostics);
    assert_eq!(data.ids["a"]["disable"], json!(1));
    assert_eq!(data.ids["a"]["field1"], json!(3));
    let bad = cfg.parse("b", "one: a\n\tfield1 3\n\tdisable yes\n", false);
    assert_eq!(bad.diagnostics.len(), 1);
}

#[test]
fn write_errors() {
    let cfg = unified();
    let mut data = SectionConfigData::default();
    data.set("a", json!({"type": "one"}).as_object().unwrap().clone());
    let err = cfg.write("w", &data).unwrap_err().to_string();
    assert_eq!(
        err,
        "section 'a' - missing value for required option 'field1'"
    );

    data.set(
        "a",
        json!({"type": "one", "field1": 3, "another": "x\ny"})
            .as_object()
            .unwrap()
            .clone(),
    );
    assert_eq!(
        cfg.write("w", &data).unwrap_err().to_string(),
        "property 'another' contains a line feed"
    );

    let mut bad_id = SectionConfigData::default();
    bad_id.set(
        "a b",
        json!({"type": "one", "field1": 3})
            .as_object()
            .unwrap()
            .clone(),
    );
    assert!(cfg.write("w", &bad_id).is_err());
}

#[test]
fn check_config_and_delete() {
    let cfg = unified();
    let cfg_map = |v: Value| v.as_object().unwrap().clone();
    let ok = cfg
        .check_config(
            "two",
            "b",
            &cfg_map(json!({"field2": "4", "another": "x"})),
            true,
        )
        .unwrap();
    assert_eq!(
        json!(ok),
        json!({"type": "two", "field2": 4, "another": "x"})
    );
    let err = cfg
        .check_config("two", "b", &cfg_map(json!({"field2": 4})), false)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "can't change value of fixed parameter 'field2'"
    );
    let err = cfg
        .check_config("two", "b", &cfg_map(json!({"another": "x"})), true)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing value for required option 'field2'"
    );

    let mut section = cfg_map(json!({"type": "two", "list": ["a"], "another": "x"}));
    cfg.delete_from_config("two", &mut section, &Map::new(), &["list"])
        .unwrap();
    assert!(!section.contains_key("list"));
    let err = cfg
        .delete_from_config("two", &mut section, &Map::new(), &["another"])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to delete required option 'another'"
    );
}

#[test]
fn definition_errors() {
    let dup = SectionConfig::builder()
        .base_property("x", Schema::of_type(JsonType::String))
        .plugin(Plugin::new("p").property("x", Schema::of_type(JsonType::String)))
        .build();
    assert_eq!(dup.unwrap_err().to_string(), "duplicate property 'x'");
    let undefined = SectionConfig::builder()
        .plugin(Plugin::new("p").option("nope", OptionSpec::OPTIONAL))
        .build();
    assert_eq!(
        undefined.unwrap_err().to_string(),
        "undefined property 'nope'"
    );
    let foreign = SectionConfig::builder()
        .property_isolation(true)
        .plugin(Plugin::new("a").property("x", Schema::of_type(JsonType::String)))
        .plugin(Plugin::new("b").option("x", OptionSpec::OPTIONAL))
        .build();
    assert_eq!(
        foreign.unwrap_err().to_string(),
        "cannot use property 'x' of foreign plugin ('a') in isolation mode"
    );
}

#[test]
fn isolated_mode_keeps_per_type_definitions() {
    let cfg = SectionConfig::builder()
        .property_isolation(true)
        .base_property("id", Schema::of_type(JsonType::String))
        .plugin(Plugin::new("a").property("x", Schema::of_type(JsonType::Integer)))
        .plugin(Plugin::new("b").property("x", Schema::of_type(JsonType::String).optional()))
        .build()
        .unwrap();
    let data = cfg.parse(
        "i",
        "a: one\n\tx 5\n\nb: two\n\tx five\n\na: three\n\tx five\n",
        false,
    );
    assert_eq!(data.ids["one"]["x"], json!(5));
    assert_eq!(data.ids["two"]["x"], json!("five"));
    assert!(!data.ids.contains_key("three"));
    let create = cfg
        .create_schema(false, BTreeMap::new())
        .unwrap()
        .to_value();
    assert_eq!(create["allOf"][0]["properties"]["id"]["type"], "string");
    assert_eq!(create["allOf"][1]["oneOf"][1]["instance-type"], "b");
    assert!(cfg.create_schema(true, BTreeMap::new()).is_err());
    let single = cfg
        .update_schema(Some("a"), BTreeMap::new())
        .unwrap()
        .to_value();
    assert_eq!(single["allOf"][2]["properties"]["x"]["optional"], 1);
    assert!(single["allOf"][2].get("instance-type").is_none());
}

#[test]
fn bad_input_never_panics() {
    let cfg = unified();
    for raw in [
        "",
        "\n\n",
        "0",
        ":",
        "a:",
        ": b",
        "one:",
        "one: a\n0\n\tfield1 3",
        "one: a\n\t",
        "\t\t\n",
        "one: a\n\tfield1\n",
        "one: a\r\n\tfield1 3\r\n",
        "# c\none: a\n# c\n\tfield1 3\n",
        "one: a\n\tlist x\n",
        "two: b\n\tfield2 99999999999999999999999\n\tanother a\n",
        "one: ä\n\tfield1 3\n\tanother ü\u{85}\n",
    ] {
        let data = cfg.parse("p", raw, true);
        let _ = cfg.write_allow_unknown("p", &data);
    }
}

#[test]
fn array_items_are_checked_against_their_format() {
    let def = json!({
        "base": {"propertyList": {"type": {"description": "Section type."}}},
        "plugins": {"two": {
            "properties": {"arrayfield": {"type": "array", "items": {
                "type": "string",
                "format": {
                    "subfield1": {"type": "string"},
                    "subfield2": {"type": "integer", "minimum": 0, "optional": 1},
                },
            }}},
            "options": {"arrayfield": {"optional": 1}},
        }},
    });
    let cfg = SectionConfig::from_json(&def, false).unwrap();
    let ok = cfg.parse("a", "two: t\n\tarrayfield subfield1=x,subfield2=2\n", false);
    assert!(ok.diagnostics.is_empty(), "{:?}", ok.diagnostics);
    let bad = cfg.parse(
        "a",
        "two: t\n\tarrayfield subfield2=-1\n\tarrayfield subfield1=y\n",
        false,
    );
    assert_eq!(bad.diagnostics.len(), 1, "{:?}", bad.diagnostics);
    assert_eq!(bad.diagnostics[0].key.as_deref(), Some("arrayfield"));
    assert!(bad.diagnostics[0].message.starts_with("invalid format - "));
    assert_eq!(bad.ids["t"]["arrayfield"], json!(["subfield1=y"]));
}

#[test]
fn a_plugin_may_isolate_its_properties_in_a_unified_config() {
    let def = json!({
        "base": {"propertyList": {"type": {}, "id": {"type": "string"}}},
        "plugins": {
            "plain": {
                "properties": {"shared": {"type": "string"}},
                "options": {"shared": {"optional": 1}},
            },
            "iso": {
                "plugindata": {"isolate-properties": 1, "expose-properties": {"pub": 1}},
                "properties": {"shared": {"type": "integer"}, "pub": {"type": "string", "optional": 1}},
                "options": {},
            },
            "user": {"properties": {}, "options": {"pub": {"optional": 1}}},
        },
    });
    let cfg = SectionConfig::from_json(&def, false).unwrap();
    assert!(cfg.has_isolated_properties());
    assert_eq!(cfg.options("iso").unwrap().len(), 2);
    let data = cfg.parse(
        "m",
        "plain: a\n\tshared text\n\niso: b\n\tshared 5\n\tpub p\n\nuser: c\n\tpub q\n",
        false,
    );
    assert!(data.diagnostics.is_empty(), "{:?}", data.diagnostics);
    assert_eq!(data.ids["b"]["shared"], json!(5));
    assert_eq!(data.ids["a"]["shared"], json!("text"));

    let mut bad = def.clone();
    bad["plugins"]["user"]["options"] = json!({"shared": {"optional": 1}, "hidden": {}});
    bad["plugins"]["iso"]["properties"]["hidden"] = json!({"type": "string"});
    assert_eq!(
        SectionConfig::from_json(&bad, false)
            .unwrap_err()
            .to_string(),
        "cannot use property 'hidden' from isolated plugin 'iso'"
    );
}
