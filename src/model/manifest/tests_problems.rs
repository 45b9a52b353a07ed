//! Manifest problems at scale and in place: each located by line and column, and hostile
//! lists near the size limit checked in linear time.

use super::tests::{problems, GOOD};
use super::*;

#[test]
fn problems_give_the_line_and_column_of_their_field() {
    let bad = GOOD
        .replace("name = \"bearing-fault\"", "name = \"bad name!\"")
        .replace("on = 0.9\noff = 0.6", "on = 0.5\noff = 0.6")
        .replace("features = [0.1, 3.0]", "features = [0.1]");
    let e = problems(&bad);
    let at = |field: &str| {
        e.0.iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("no problem with {field} in {e}"))
            .at
    };
    assert_eq!(at("model.name"), Some(Location { line: 3, column: 8 }));
    assert_eq!(
        at("alerts[1].off"),
        Some(Location {
            line: 36,
            column: 7
        })
    );
    assert_eq!(
        at("golden[0].features"),
        Some(Location {
            line: 39,
            column: 12
        })
    );
    // Display keeps "field: message" and puts the place after it.
    let text = e.to_string();
    assert!(
        text.contains("golden[0].features: has 1 features, the model takes 2 (line 39, column 12)"),
        "{text}"
    );
    assert!(
        text.contains(
            "model.name: \"bad name!\" has ' ' at character 4: use letters, digits, '.', '_' or '-' (line 3, column 8)"
        ),
        "{text}"
    );
    // A problem of a missing table has no place.
    let no_golden = &GOOD[..GOOD.find("[[golden]]").unwrap()];
    let e = problems(no_golden);
    let p = e.0.iter().find(|p| p.field == "golden").unwrap();
    assert_eq!(p.at, None);
}

#[test]
fn deserializer_errors_name_their_field_and_place() {
    let e = problems(&GOOD.replace("[output]\n", "[output]\ncolour = \"red\"\n"));
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].field, "output.colour");
    assert_eq!(
        e.0[0].at,
        Some(Location {
            line: 18,
            column: 1
        })
    );
    assert!(
        e.to_string()
            .starts_with("output.colour: unknown field `colour`"),
        "{e}"
    );

    let e = problems(&GOOD.replace("hop = 1024", "hop = \"1024\""));
    assert_eq!(e.0[0].field, "input.window.hop");
    assert_eq!(
        e.0[0].at,
        Some(Location {
            line: 11,
            column: 34
        })
    );

    let e = problems(&GOOD.replace("on = 0.8", "on = 0.8.1"));
    assert_eq!(e.0[0].at.map(|a| a.line), Some(26));
}

#[test]
fn a_problem_per_entry_is_located_in_one_pass() {
    // Tens of thousands of problems in a manifest near the size limit: each is located, and
    // locating them does not scan the text once per problem.
    let head = &GOOD[..GOOD.find("[[golden]]").unwrap()];
    let entry = "[[golden]]\nfeatures = []\noutput = []\n";
    let n = (bounds::MAX_MANIFEST_BYTES - head.len()) / entry.len();
    let text = format!("{head}{}", entry.repeat(n));
    let t = std::time::Instant::now();
    let e = problems(&text);
    let took = t.elapsed();
    let last =
        e.0.iter()
            .find(|p| p.field == format!("golden[{}].output", n - 1))
            .unwrap_or_else(|| panic!("no problem for the last golden vector among {}", e.0.len()));
    let lines_before = head.lines().count() + 3 * (n - 1);
    assert_eq!(
        last.at,
        Some(Location {
            line: lines_before + 3,
            column: 10
        })
    );
    eprintln!("{n} entries, {} problems located in {took:?}", e.0.len());
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
}

/// Lists near the 1 MiB limit are checked with sets, not scans of the list per entry: 111,111
/// distinct labels took 374 s (debug build) with the scans, about 3 s with sets.
#[test]
fn long_lists_are_checked_in_linear_time() {
    type Entry = Box<dyn Fn(usize) -> String>;
    let cases: Vec<(&str, &str, Entry, &str)> = vec![
        (
            "labels = [\"normal\", \"inner_race\", \"ball\"]",
            "labels = [\"normal\", LIST]",
            Box::new(|i| format!("\"l{i}\",")),
            "output.labels",
        ),
        (
            "signals = [\"vib\"]",
            "signals = [\"vib\", \"vib\", LIST]",
            Box::new(|i| format!("\"s{i}\",")),
            "input.signals",
        ),
        (
            "[[golden]]",
            "LIST[[golden]]",
            Box::new(|i| {
                format!(
                    "[[alerts]]\nname = \"a{}\"\nclass = \"c{i}\"\ndirection = \"above\"\non = 1.0\noff = 0.5\n",
                    i % 1000
                )
            }),
            "alerts",
        ),
    ];
    for (from, to, entry, field) in cases {
        let mut list = String::new();
        let mut n = 0;
        while list.len() < bounds::MAX_MANIFEST_BYTES - GOOD.len() - 200 {
            list.push_str(&entry(n));
            n += 1;
        }
        let text = GOOD.replace(from, &to.replace("LIST", &list));
        assert!(text.len() <= bounds::MAX_MANIFEST_BYTES);
        let t = std::time::Instant::now();
        let e = problems(&text);
        let took = t.elapsed();
        assert!(e.has(field), "{field}: {n} entries");
        assert!(
            took < std::time::Duration::from_secs(30),
            "{field}: {n} entries took {took:?}"
        );
    }
    // And the duplicates are still found, once per later occurrence.
    let e = problems(&GOOD.replace(
        "signals = [\"vib\"]",
        "signals = [\"vib\", \"vib\", \"vib\"]",
    ));
    let twice =
        e.0.iter()
            .filter(|p| p.message == "lists \"vib\" twice")
            .count();
    assert_eq!(twice, 2, "{e}");
    let e = problems(&GOOD.replace("name = \"inner-race\"", "name = \"fault\""));
    assert!(
        e.to_string()
            .contains("alerts[1].name: \"fault\" is used twice"),
        "{e}"
    );
    let e = problems(&GOOD.replace("\"ball\"]", "\"ball\", \"ball\"]"));
    assert!(
        e.to_string()
            .contains("output.labels[3]: \"ball\" is listed twice"),
        "{e}"
    );
}
