"""Loads a tokenizer.json written by rlx with Hugging Face's Python `tokenizers` (the library behind
`transformers.PreTrainedTokenizerFast`) and encodes the JSON list of texts read from stdin; prints the ids, the
decoded texts and the end-of-text id as one JSON line (models/tests/bpe.rs compares them with rlx's)."""
import json
import sys

from tokenizers import Tokenizer

tokenizer = Tokenizer.from_file(sys.argv[1])
texts = json.loads(sys.stdin.read())
ids = [tokenizer.encode(text).ids for text in texts]
print(json.dumps({
    "ids": ids,
    "decoded": [tokenizer.decode(i, skip_special_tokens=False) for i in ids],
    "end_of_text": tokenizer.token_to_id("<|endoftext|>"),
}))
