//! Berth's domain: the types every engine, the app and the CLI share, and the rules that hold
//! for all of them. Nothing here touches the disk, the network or a UI toolkit, so every rule
//! can be tested in isolation and reused by both engines — save the loopback pair terminal
//! frames travel over inside the process ([`frames::pair`]), which every engine needs alike.

pub mod clock;
pub mod dotfiles;
pub mod engine;
pub mod environ;
pub mod error;
pub mod files;
pub mod folder;
pub mod frames;
pub mod limits;
pub mod mount;
pub mod path;
pub mod session;
pub mod template;

pub use dotfiles::Dotfile;
pub use engine::{Engine, EngineInfo, EngineKind};
pub use environ::EnvVar;
pub use error::{Error, ErrorCode, Result};
pub use files::{
    EditableFile, FileEntry, FileKind, FileName, FileRange, FileVersion, LARGEST_EDIT,
    LARGEST_EDIT_COPY, LARGEST_RANGE, SaveMode,
};
pub use folder::{
    Folder, FolderPermission, FolderStatus, FolderUsage, NewFolder, StorageHost, UsageMode,
};
pub use limits::SessionLimits;
pub use mount::{
    MountAccess, MountPlan, MountPreview, MountProblem, MountRequest, MountRule, PlannedMount,
    plan_mounts, preview_mounts,
};
pub use path::FolderPath;
pub use session::{
    Environment, EnvironmentKind, LimitEnforcement, NetworkMode, NewSession, Placements,
    ProjectPlacements, ResourceGroupFree, ResourceLimits, ResourcePreset, ResourceRequest, Session,
    SessionPlacement, SessionRuntime, SessionStats, SessionStatus, SessionType,
};
pub use template::Template;
