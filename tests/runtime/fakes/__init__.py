"""Stand-ins for torch_npu, npugraph_ex, torchair and xlite, installed only inside a test and derived
from the real packages: xlite's stub, torch_npu's config classes; `tests/real` checks the rest
against torch_npu's source."""
