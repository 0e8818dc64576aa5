use proptest::prelude::*;

use super::*;
use crate::{ErrorCode, UsageMode};

fn folder(name: &str, permission: FolderPermission) -> Folder {
    Folder {
        id: format!("id-{name}"),
        name: name.to_owned(),
        host: "local:default".to_owned(),
        usage_mode: UsageMode::General,
        permission,
        cloneable: false,
        status: FolderStatus::Ready,
        created_at_ms: 0,
        automount: crate::folder::is_automount_name(name),
        project: None,
    }
}

fn rw(name: &str) -> Folder {
    folder(name, FolderPermission::Rw)
}

fn aliased(name: &str, alias: &str) -> MountRequest {
    MountRequest {
        folder: name.to_owned(),
        alias: Some(alias.to_owned()),
        access: None,
    }
}

fn targets(plan: &MountPlan) -> Vec<(&str, &str, bool)> {
    plan.mounts
        .iter()
        .map(|m| (m.folder_name.as_str(), m.target.as_str(), m.read_only))
        .collect()
}

#[test]
fn the_seed_mounts_both_folders_under_home_work() {
    let folders = [rw("user1-ml-test"), rw("user2-vfolder")];
    let requests = [
        MountRequest::folder("user1-ml-test"),
        MountRequest::folder("user2-vfolder"),
    ];
    let plan = plan_mounts(&requests, &folders).unwrap();
    assert_eq!(
        targets(&plan),
        [
            ("user1-ml-test", "/home/work/user1-ml-test", false),
            ("user2-vfolder", "/home/work/user2-vfolder", false),
        ]
    );
}

#[test]
fn aliases_absolute_relative_and_trailing_slash() {
    let folders = [rw("a"), rw("b"), rw("c")];
    let plan = plan_mounts(
        &[
            aliased("a", "/workspace"),
            aliased("b", "data/in"),
            aliased("c", "/srv2/x/"),
        ],
        &folders,
    )
    .unwrap();
    assert_eq!(
        targets(&plan),
        [
            ("a", "/workspace", false),
            ("c", "/srv2/x", false),
            ("b", "/home/work/data/in", false),
        ]
    );
}

#[test]
fn automounts_are_always_there_and_linuxbrew_has_its_fixed_place() {
    let folders = [rw(".local"), rw(".linuxbrew"), rw("data")];
    let plan = plan_mounts(&[], &folders).unwrap();
    assert_eq!(
        targets(&plan),
        [
            (".linuxbrew", "/home/linuxbrew/.linuxbrew", false),
            (".local", "/home/work/.local", false),
        ]
    );
    assert!(plan.mounts.iter().all(|m| m.automount));
    // Picking an automount folder explicitly does not mount it twice, and may make it ro.
    let request = MountRequest {
        folder: ".local".to_owned(),
        alias: None,
        access: Some(MountAccess::ReadOnly),
    };
    let plan = plan_mounts(&[request], &folders).unwrap();
    assert_eq!(plan.mounts.len(), 2);
    assert!(
        plan.mounts
            .iter()
            .any(|m| m.folder_name == ".local" && m.read_only)
    );
}

#[test]
fn read_only_comes_from_the_request_or_the_folder() {
    let folders = [folder("ref", FolderPermission::Ro), rw("data")];
    let requests = [
        MountRequest::folder("ref"),
        MountRequest {
            folder: "data".to_owned(),
            alias: None,
            access: Some(MountAccess::ReadOnly),
        },
    ];
    let plan = plan_mounts(&requests, &folders).unwrap();
    assert!(plan.mounts.iter().all(|m| m.read_only));
    let error = plan_mounts(
        &[MountRequest {
            folder: "ref".to_owned(),
            alias: None,
            access: Some(MountAccess::ReadWrite),
        }],
        &folders,
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(
        error.message.contains("\"ref\" is read-only"),
        "{}",
        error.message
    );
}

#[test]
fn every_refusal_names_the_folder_and_the_rule() {
    let folders = [rw("a"), rw("b"), rw(".local"), rw(".linuxbrew")];
    let cases: Vec<(Vec<MountRequest>, &str, MountRule)> = vec![
        (
            vec![aliased("a", "../../etc")],
            "a",
            MountRule::DotComponent,
        ),
        (vec![aliased("a", "x/./y")], "a", MountRule::DotComponent),
        (
            vec![aliased("a", "/home/work/../../etc")],
            "a",
            MountRule::DotComponent,
        ),
        (vec![aliased("a", "x//y")], "a", MountRule::EmptyComponent),
        (
            vec![aliased("a", "x\0y")],
            "a",
            MountRule::ForbiddenCharacter,
        ),
        (
            vec![aliased("a", "x\\y")],
            "a",
            MountRule::ForbiddenCharacter,
        ),
        (vec![aliased("a", "/")], "a", MountRule::ReservedPath),
        (vec![aliased("a", "/etc")], "a", MountRule::ReservedPath),
        (vec![aliased("a", "/proc/x")], "a", MountRule::ReservedPath),
        (
            vec![aliased("a", "/usr/local/x")],
            "a",
            MountRule::ReservedPath,
        ),
        (vec![aliased("a", "/lib32")], "a", MountRule::ReservedPath),
        (
            vec![aliased("a", "/home/other")],
            "a",
            MountRule::ReservedPath,
        ),
        (
            vec![aliased("a", "/home/linuxbrew/.linuxbrew")],
            "a",
            MountRule::ReservedPath,
        ),
        (vec![aliased("a", ".ssh")], "a", MountRule::ReservedPath),
        (vec![aliased("a", ".bashrc")], "a", MountRule::ReservedPath),
        (
            vec![aliased("a", "/home/work")],
            "a",
            MountRule::HomeWorkItself,
        ),
        (
            vec![aliased("a", "/home/work/")],
            "a",
            MountRule::HomeWorkItself,
        ),
        (
            vec![aliased("a", "/data"), aliased("b", "/data")],
            "b",
            MountRule::DuplicateTarget,
        ),
        (
            vec![aliased("a", "b"), MountRequest::folder("b")],
            "b",
            MountRule::DuplicateTarget,
        ),
        (
            vec![aliased("a", ".local")],
            "a",
            MountRule::DuplicateTarget,
        ),
        (
            vec![aliased("a", "/data"), aliased("b", "/data/in")],
            "b",
            MountRule::NestedTarget,
        ),
        (
            vec![aliased("a", ".local/lib")],
            "a",
            MountRule::NestedTarget,
        ),
        (
            vec![aliased(".local", "x")],
            ".local",
            MountRule::AliasForAutomount,
        ),
        (
            vec![MountRequest::folder("a"), MountRequest::folder("a")],
            "a",
            MountRule::RequestedTwice,
        ),
        (
            vec![MountRequest::folder("nope")],
            "nope",
            MountRule::UnknownFolder,
        ),
    ];
    for (requests, culprit, rule) in cases {
        let preview = preview_mounts(&requests, &folders);
        let problem = preview
            .problems
            .first()
            .unwrap_or_else(|| panic!("{requests:?} was accepted: {:?}", preview.mounts));
        assert_eq!(problem.rule, rule, "{requests:?}");
        assert_eq!(problem.folder, culprit, "{requests:?}");
        assert!(
            problem.message.contains(&format!("\"{culprit}\"")),
            "{requests:?}: {}",
            problem.message
        );
        assert!(plan_mounts(&requests, &folders).is_err());
    }
    let missing = plan_mounts(&[MountRequest::folder("nope")], &folders).unwrap_err();
    assert_eq!(missing.code, ErrorCode::NotFound);
}

#[test]
fn trashed_folders_are_neither_mountable_nor_automounted() {
    let mut gone = rw("old");
    gone.status = FolderStatus::Trashed;
    let mut local = rw(".local");
    local.status = FolderStatus::Trashed;
    assert_eq!(plan_mounts(&[], &[gone.clone(), local]).unwrap().mounts, []);
    let error = plan_mounts(&[MountRequest::folder("old")], &[gone]).unwrap_err();
    assert!(error.message.contains("trash"), "{}", error.message);
}

#[test]
fn preview_lists_good_mounts_next_to_problems() {
    let folders = [rw("a"), rw("b")];
    let preview = preview_mounts(&[aliased("a", "/etc"), aliased("b", "in")], &folders);
    assert_eq!(preview.problems.len(), 1);
    assert_eq!(preview.mounts.len(), 1);
    assert_eq!(preview.mounts[0].target, "/home/work/in");
}

// ---- properties: no plan, whatever the input, ever breaks the rules ----

/// Path pieces chosen to hit every rule often: climbing, system roots, home itself, dotfiles,
/// separators, and ordinary names that collide with each other.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("home".to_owned()),
        Just("work".to_owned()),
        Just("etc".to_owned()),
        Just("proc".to_owned()),
        Just("usr".to_owned()),
        Just("lib64".to_owned()),
        Just("linuxbrew".to_owned()),
        Just(".linuxbrew".to_owned()),
        Just(".local".to_owned()),
        Just(".ssh".to_owned()),
        Just(".bashrc".to_owned()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("data".to_owned()),
        Just("x\\y".to_owned()),
        Just("nul\0".to_owned()),
        "[a-z.]{1,3}",
    ]
}

fn alias() -> impl Strategy<Value = Option<String>> {
    let path = (
        any::<bool>(),
        prop::collection::vec(piece(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(absolute, pieces, slash)| {
            let mut s = if absolute {
                "/".to_owned()
            } else {
                String::new()
            };
            s.push_str(&pieces.join("/"));
            if slash {
                s.push('/');
            }
            s
        });
    prop_oneof![Just(None), path.prop_map(Some)]
}

fn folder_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("data".to_owned()),
        Just("work".to_owned()),
        Just(".local".to_owned()),
        Just(".linuxbrew".to_owned()),
        Just(".cache".to_owned()),
        Just(".bashrc".to_owned()),
        Just("..".to_owned()),
        Just("etc".to_owned()),
    ]
}

fn folders() -> impl Strategy<Value = Vec<Folder>> {
    prop::collection::vec((folder_name(), any::<bool>(), any::<bool>()), 0..6).prop_map(|list| {
        let mut seen = Vec::new();
        list.into_iter()
            .filter(|(name, _, _)| {
                let fresh = !seen.contains(name);
                seen.push(name.clone());
                fresh
            })
            .map(|(name, read_only, trashed)| {
                let mut f = folder(
                    &name,
                    if read_only {
                        FolderPermission::Ro
                    } else {
                        FolderPermission::Rw
                    },
                );
                if trashed {
                    f.status = FolderStatus::Trashed;
                }
                f
            })
            .collect()
    })
}

fn requests() -> impl Strategy<Value = Vec<MountRequest>> {
    let access = prop_oneof![
        Just(None),
        Just(Some(MountAccess::ReadOnly)),
        Just(Some(MountAccess::ReadWrite))
    ];
    prop::collection::vec((folder_name(), alias(), access), 0..5).prop_map(|list| {
        list.into_iter()
            .map(|(folder, alias, access)| MountRequest {
                folder,
                alias,
                access,
            })
            .collect()
    })
}

/// What "not reserved" means, written independently of the planner's code.
fn is_allowed_target(target: &str, folder_name: &str) -> bool {
    if folder_name == ".linuxbrew" && target == LINUXBREW_TARGET {
        return true;
    }
    if let Some(rest) = target.strip_prefix("/home/work/") {
        let first = rest.split('/').next().unwrap_or("");
        let dotfile = first.starts_with('.')
            && (first.ends_with("rc") || first.ends_with("_profile"))
            && first.len() > 3;
        return ![".ssh", ".terminfo", ".jupyter", ".tmux.conf"].contains(&first) && !dotfile;
    }
    let first = target
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    !first.is_empty()
        && !first.starts_with("lib")
        && ![
            "bin", "boot", "dev", "etc", "home", "media", "mnt", "opt", "proc", "root", "run",
            "sbin", "srv", "sys", "tmp", "usr", "var",
        ]
        .contains(&first)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn no_plan_breaks_a_rule(requests in requests(), folders in folders()) {
        let preview = preview_mounts(&requests, &folders);
        let plan = plan_mounts(&requests, &folders);
        prop_assert_eq!(plan.is_ok(), preview.problems.is_empty());
        for problem in &preview.problems {
            prop_assert!(problem.message.contains(&problem.folder), "{:?}", problem);
        }
        let Ok(plan) = plan else { return Ok(()) };
        prop_assert_eq!(&plan.mounts, &preview.mounts);

        for (i, mount) in plan.mounts.iter().enumerate() {
            let t = mount.target.as_str();
            // Absolute, normalised: nothing to climb out with, nothing a shell would reinterpret.
            prop_assert!(t.starts_with('/') && !t.ends_with('/'), "{}", t);
            prop_assert!(t[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."), "{}", t);
            prop_assert!(!t.contains('\0') && !t.contains('\\'), "{:?}", t);
            prop_assert!(t != "/home/work", "{}", t);
            prop_assert!(is_allowed_target(t, &mount.folder_name), "{} for {}", t, mount.folder_name);
            for other in &plan.mounts[i + 1..] {
                prop_assert!(other.target != mount.target, "two mounts on {}", t);
                prop_assert!(!other.target.starts_with(&format!("{t}/")), "{} inside {}", other.target, t);
                prop_assert!(!t.starts_with(&format!("{}/", other.target)), "{} inside {}", t, other.target);
                // Parents come first, so a runtime can mount in order.
                prop_assert!(depth(&other.target) >= depth(t));
            }
            let source = folders.iter().find(|f| f.id == mount.folder_id).expect("known folder");
            prop_assert_eq!(source.status, FolderStatus::Ready);
            if source.permission == FolderPermission::Ro {
                prop_assert!(mount.read_only, "ro folder {} mounted rw", source.name);
            }
            if source.automount {
                prop_assert_eq!(&mount.target, &automount_target(&source.name));
            }
        }
        // Every ready automount folder and every requested folder is mounted.
        for f in folders.iter().filter(|f| f.status == FolderStatus::Ready && f.automount) {
            prop_assert!(plan.mounts.iter().any(|m| m.folder_id == f.id), "automount {} missing", f.name);
        }
        for r in &requests {
            prop_assert!(plan.mounts.iter().any(|m| m.folder_name == r.folder), "{} missing", r.folder);
        }
    }

    #[test]
    fn an_accepted_alias_resolves_to_what_it_says(alias in alias()) {
        let Some(alias) = alias else { return Ok(()) };
        if let Ok(target) = resolve_target(&alias) {
            let expected = if alias.starts_with('/') {
                alias.trim_end_matches('/').to_owned()
            } else {
                format!("/home/work/{}", alias.trim_end_matches('/'))
            };
            prop_assert_eq!(target, expected);
        }
    }
}

#[test]
fn the_default_target_is_where_the_planner_puts_a_folder_picked_without_an_alias() {
    let folders = [rw(".local"), rw(".linuxbrew"), rw("data")];
    let plan = plan_mounts(&[MountRequest::folder("data")], &folders).unwrap();
    for mount in &plan.mounts {
        assert_eq!(mount.target, default_target(&mount.folder_name));
    }
    assert_eq!(default_target(".linuxbrew"), "/home/linuxbrew/.linuxbrew");
    assert_eq!(default_target(".local"), "/home/work/.local");
    assert_eq!(default_target("data"), "/home/work/data");
}
