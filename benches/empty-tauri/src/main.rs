//! An empty Tauri 2 app with Berth's window size: the baseline `scripts/measure-foundation`
//! compares Berth's start-up time and memory with. Its page reports its first paint the same
//! way Berth's does, so both are timed by one method.

#[tauri::command]
fn ui_ready() {
    println!("Baseline ready");
}

fn main() {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![ui_ready])
        .run(tauri::generate_context!())
        .unwrap_or_else(|e| panic!("the baseline app failed: {e}"));
}
