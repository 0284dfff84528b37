//! The live kisi source: not built yet (issue 4 in progress).

use crate::sources::runtime::SourceCtx;

pub async fn run(ctx: SourceCtx) {
    ctx.status
        .failed("this vendor's live source is not part of this build yet");
}
