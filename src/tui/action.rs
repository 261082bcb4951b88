//! Everything a user can ask of the dashboard. Keys and mouse map to these (keymap.rs);
//! `App::handle_action` turns them into state changes and engine commands.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Build now (Command::Rebuild).
    Rebuild,
    /// Start a new run of the current artifact.
    StartRun,
    /// Stop the selected run: early stop at the next checkpoint, or kill at once.
    StopRun {
        force: bool,
    },
    /// Early-stop the selected run and start a replacement (a finished run: start it again).
    RestartRun,
    /// Next config-change policy: restart → ask → hold.
    CycleConfigPolicy,
    /// The answer to the open yes/no question.
    Answer(crate::tui::popup::Answer),
    /// Clear the selected run's stored log.
    ClearLogs,
    SelectPrev,
    SelectNext,
    FocusLogs,
    FocusRuns,
    ToggleFocus,
    ScrollUp(u16),
    ScrollDown(u16),
    PageUp,
    PageDown,
    ScrollTop,
    /// Horizontal scroll of truncated lines.
    ScrollLeft,
    ScrollRight,
    ScrollBottom,
    ToggleFollow,
    /// The log pane takes the whole screen (and back).
    ToggleZoom,
    /// Show the time of each log line (and hide it).
    ToggleTimestamps,
    /// Start selecting log lines to copy (or cancel the selection).
    SelectLines,
    /// Copy the selected log lines to the clipboard.
    CopySelection,
    ToggleWrap,
    /// Open the search box.
    SearchOpen,
    SearchInput(char),
    SearchBackspace,
    /// Confirm the query and jump to the nearest hit.
    SearchSubmit,
    /// Close the search box; a confirmed query is kept for n/N.
    SearchCancel,
    SearchNext,
    SearchPrev,
    /// Forget the search query and its highlights.
    SearchClear,
    ToggleHelp,
    /// Show a view (number keys).
    ShowView(crate::tui::views::View),
    /// Jobs: fetch the job list now.
    RefreshJobs,
    /// Jobs: open the selected job's detail.
    OpenJob,
    /// Jobs: back from a job's detail to the list.
    CloseJob,
    /// Jobs: cancel the selected (or open) job on the cloud, after a confirmation.
    CancelJob,
    /// Jobs: chat with the selected (or open) job's adapter in the Playground.
    OpenPlayground,
    /// Playground: the prompt takes the keys.
    FocusInput,
    /// Playground: the prompt gives the keys back (Esc).
    LeaveInput,
    /// Playground: a change to the prompt.
    Edit(crate::tui::views::text_input::Edit),
    /// Playground: send the prompt.
    SendPrompt,
    /// Playground: stop the reply being streamed.
    StopReply,
    /// Playground: forget the conversation.
    ClearChat,
    /// Playground: copy the conversation to the clipboard.
    CopyChat,
    /// Playground: chat with the base model again.
    UseBaseModel,
    /// Endpoints (and `e` in Jobs): the deployments and their keys.
    Endpoint(crate::tui::views::endpoints::EndpointAction),
    /// Mouse click at a screen cell (selects a run or focuses a panel).
    Click {
        column: u16,
        row: u16,
    },
    /// First: early-stop every run and wait; second: force; third: leave at once.
    Quit,
    /// Ctrl-Z: give the terminal back and stop the process until resumed.
    Suspend,
    /// Ctrl-L or a resize: draw everything again.
    Redraw,
}
