//! One file per pane: each draws a part of the [`crate::ui::app::App`].

pub mod alarms;
pub mod controllers;
pub mod detail;
pub mod doors;
pub mod events;
pub mod help;
pub mod search;

use ratatui::layout::Rect;

/// The first row to draw so that `selected` stays visible in `height` rows. Stateless:
/// the selection sits on the last visible row once it has moved past the first page.
pub fn window_start(selected: usize, len: usize, height: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    let start = (selected + 1).saturating_sub(height);
    start.min(len - height)
}

/// Rows inside a bordered block.
pub fn inner_height(area: Rect) -> usize {
    area.height.saturating_sub(3) as usize
}
