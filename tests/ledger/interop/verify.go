// Command verify checks a customhouse transparency log with Go's own sumdb code
// (golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog), as an outside verifier would.
//
// It reads a log published per C2SP tlog-checkpoint and tlog-tiles from a URL (the log's prefix,
// e.g. http://127.0.0.1:8000/log) or from a directory laid out the same way (checkpoint, key,
// tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]), then:
//
//  1. opens the checkpoint with note.Open and the log's verifier key (note.NewVerifier on the
//     vkey the log publishes at <log>/key, or -vkey), and with the witnesses' keys (-witness) too;
//  2. parses the checkpoint body: origin line, tree size, base64 root hash;
//  3. reads hashes through tlog.TileHashReader, whose TileReader fetches the log's tiles (so every
//     tile is authenticated against the signed root), and checks tlog.TreeHash against the root;
//  4. for some leaves, reads the entry from its entry bundle, hashes it with tlog.RecordHash, checks
//     it against the level-0 tile, and verifies tlog.ProveRecord / tlog.CheckRecord;
//  5. for each earlier checkpoint (-old), opens it the same way and verifies tlog.ProveTree /
//     tlog.CheckTree from it to the newest tree, and the inclusion of leaves in it;
//  6. with -api (the server's root URL, or a directory mirroring it where "?" becomes "/"), checks
//     the inclusion and consistency proofs customhouse's own API hands out with CheckRecord and
//     CheckTree, and that they equal the proofs tlog computes from the tiles.
//
// It prints one JSON object; on any failure "ok" is false, "error" says what failed, and the exit
// status is 1 (2 for bad usage).
//
// Two format differences between Go's sumdb and the C2SP specifications are bridged here, not
// bugs of either side: sumdb tile paths carry the tile height (tile/8/0/x001/234) and call entry
// bundles "data", C2SP paths do not (tile/0/x001/234, tile/entries/...); and tlog.ParseTree only
// reads the sumdb checkpoint ("go.sum database tree"), so the C2SP body is parsed here. x/mod's
// note.NewVerifier knows only Ed25519 keys (type 0x01); witness keys of type 0x04 (C2SP
// tlog-cosignature, cosignature/v1) get a note.Verifier of this program, built on crypto/ed25519.
//
// The verdict never rests on tlog.TileHashReader alone: in x/mod 0.7.0 (Debian's) it does not
// authenticate every tile it reads. Its loop "Authenticate full tiles against their parents" starts
// at len(stx), the number of subtree hashes of the tree, rather than at the number of distinct tiles
// those lie in, so when two of them share a tile the first child tiles are never checked (a tree of
// 777 leaves: a corrupted tile/0/000 is returned as if proven). Inclusion is therefore settled by
// tlog.CheckRecord of tlog.RecordHash(entry) against the signed root, consistency by tlog.CheckTree.
//
// Build without a module proxy: GO111MODULE=off GOPATH=/usr/share/gocode go build verify.go
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// -- fetching from a URL or a directory --------------------------------------------------------

type source struct {
	base   string
	client *http.Client
}

func newSource(base string) *source {
	return &source{base: strings.TrimSuffix(base, "/"), client: &http.Client{Timeout: 30 * time.Second}}
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

func (s *source) get(path string) ([]byte, error) {
	if isURL(s.base) {
		return readURL(s.client, s.base+"/"+path)
	}
	return os.ReadFile(filepath.Join(s.base, filepath.FromSlash(strings.Replace(path, "?", "/", 1))))
}

func readURL(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return body, nil
}

func readFileOrURL(name string) ([]byte, error) {
	if isURL(name) {
		return readURL(&http.Client{Timeout: 30 * time.Second}, name)
	}
	return os.ReadFile(name)
}

// -- tiles ---------------------------------------------------------------------------------------

// c2spPath is the C2SP tlog-tiles path of a tlog.Tile: Go's path without the height element,
// "entries" for "data".
func c2spPath(t tlog.Tile) (string, error) {
	if t.H != tileHeight {
		return "", fmt.Errorf("tile height %d, not %d", t.H, tileHeight)
	}
	rest := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
	if strings.HasPrefix(rest, "data/") {
		rest = "entries/" + strings.TrimPrefix(rest, "data/")
	}
	return "tile/" + rest, nil
}

// tileReader is a tlog.TileReader over the log's C2SP tiles.
type tileReader struct {
	src   *source
	cache map[string][]byte
	read  map[string]bool
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) fetch(t tlog.Tile) ([]byte, error) {
	path, err := c2spPath(t)
	if err != nil {
		return nil, err
	}
	if data, ok := r.cache[path]; ok {
		return data, nil
	}
	data, err := r.src.get(path)
	if err != nil {
		return nil, fmt.Errorf("reading tile %s: %w", path, err)
	}
	r.cache[path] = data
	r.read[path] = true
	return data, nil
}

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := r.fetch(t)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// entry is leaf n of a tree of size treeSize, from its C2SP entry bundle (uint16 length prefixes).
func (r *tileReader) entry(treeSize, n int64) ([]byte, string, error) {
	index := n / (1 << tileHeight)
	width := treeSize - index*(1<<tileHeight)
	if width > 1<<tileHeight {
		width = 1 << tileHeight
	}
	t := tlog.Tile{H: tileHeight, L: -1, N: index, W: int(width)}
	path, _ := c2spPath(t)
	data, err := r.fetch(t)
	if err != nil {
		return nil, path, err
	}
	var entries [][]byte
	for pos := 0; pos < len(data); {
		if pos+2 > len(data) {
			return nil, path, fmt.Errorf("entry bundle %s ends inside a length prefix", path)
		}
		size := int(binary.BigEndian.Uint16(data[pos:]))
		if pos+2+size > len(data) {
			return nil, path, fmt.Errorf("entry bundle %s: entry at byte %d runs past the end", path, pos)
		}
		entries = append(entries, data[pos+2:pos+2+size])
		pos += 2 + size
	}
	if int64(len(entries)) != width {
		return nil, path, fmt.Errorf("entry bundle %s holds %d entries, not %d", path, len(entries), width)
	}
	return entries[n%(1<<tileHeight)], path, nil
}

// -- keys and notes --------------------------------------------------------------------------------

// cosignatureV1 verifies C2SP tlog-cosignature signatures (key type 0x04): an 8-byte big-endian
// timestamp, then Ed25519 over "cosignature/v1\ntime <t>\n" and the note text.
type cosignatureV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	seen map[string]uint64
}

func (v *cosignatureV1) Name() string    { return v.name }
func (v *cosignatureV1) KeyHash() uint32 { return v.hash }
func (v *cosignatureV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	if !ed25519.Verify(v.key, signed, sig[8:]) {
		return false
	}
	v.seen[string(msg)] = t
	return true
}

type witnessKey struct {
	verifier note.Verifier
	kind     string
	goError  string // what x/mod's note.NewVerifier said about this key, if it refused it
}

func newWitnessVerifier(vkey string) (witnessKey, error) {
	v, err := note.NewVerifier(vkey)
	if err == nil {
		return witnessKey{verifier: v, kind: "Ed25519 (note.NewVerifier)"}, nil
	}
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return witnessKey{}, fmt.Errorf("witness key %q: %v", vkey, err)
	}
	key, err2 := base64.StdEncoding.DecodeString(parts[2])
	hash, err3 := strconv.ParseUint(parts[1], 16, 32)
	if err2 != nil || err3 != nil || len(parts[1]) != 8 || len(key) != 1+ed25519.PublicKeySize || key[0] != 0x04 {
		return witnessKey{}, fmt.Errorf("witness key %q: %v", vkey, err)
	}
	digest := sha256.Sum256(append([]byte(parts[0]+"\n"), key...))
	if binary.BigEndian.Uint32(digest[:4]) != uint32(hash) {
		return witnessKey{}, fmt.Errorf("witness key %q: the key hash does not match the key", vkey)
	}
	return witnessKey{
		verifier: &cosignatureV1{name: parts[0], hash: uint32(hash), key: ed25519.PublicKey(key[1:]), seen: map[string]uint64{}},
		kind:     "cosignature/v1 (type 0x04, this program's note.Verifier)",
		goError:  err.Error(),
	}, nil
}

type checkpoint struct {
	Source          string   `json:"source"`
	Origin          string   `json:"origin"`
	Size            int64    `json:"size"`
	Root            string   `json:"root"`
	Extensions      []string `json:"extensions"`
	LogSignatures   []string `json:"log_signatures"`
	Unknown         []string `json:"unverified_signatures_with_log_key_only"`
	Cosignatures    []string `json:"cosignatures_verified"`
	CosignatureTime []uint64 `json:"cosignature_times"`
	tree            tlog.Tree
}

func sigName(s note.Signature) string { return fmt.Sprintf("%s+%08x", s.Name, s.Hash) }

func openCheckpoint(what string, msg []byte, log note.Verifier, origin string, witnesses []witnessKey, quorum int) (*checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(log))
	if err != nil {
		return nil, fmt.Errorf("%s: note.Open with the log key: %v", what, err)
	}
	cp := &checkpoint{Source: what, Extensions: []string{}, Unknown: []string{}, Cosignatures: []string{}, CosignatureTime: []uint64{}}
	for _, s := range n.Sigs {
		cp.LogSignatures = append(cp.LogSignatures, sigName(s))
	}
	for _, s := range n.UnverifiedSigs {
		cp.Unknown = append(cp.Unknown, sigName(s))
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != log.Name() || n.Sigs[0].Hash != log.KeyHash() {
		return nil, fmt.Errorf("%s: not signed by the log key", what)
	}
	if len(witnesses) > 0 {
		all := []note.Verifier{log}
		for _, w := range witnesses {
			all = append(all, w.verifier)
		}
		n2, err := note.Open(msg, note.VerifierList(all...))
		if err != nil {
			return nil, fmt.Errorf("%s: note.Open with the log and witness keys: %v", what, err)
		}
		if n2.Text != n.Text {
			return nil, fmt.Errorf("%s: two openings disagree on the text", what)
		}
		for _, s := range n2.Sigs {
			if s.Name == log.Name() && s.Hash == log.KeyHash() {
				continue
			}
			cp.Cosignatures = append(cp.Cosignatures, sigName(s))
			for _, w := range witnesses {
				if c, ok := w.verifier.(*cosignatureV1); ok && c.name == s.Name && c.hash == s.Hash {
					cp.CosignatureTime = append(cp.CosignatureTime, c.seen[n2.Text])
				}
			}
		}
		if len(cp.Cosignatures) < quorum {
			return nil, fmt.Errorf("%s: %d witnesses cosigned, the quorum is %d", what, len(cp.Cosignatures), quorum)
		}
	}
	if err := parseBody(n.Text, cp); err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	if cp.Origin != origin {
		return nil, fmt.Errorf("%s: origin %q, not %q", what, cp.Origin, origin)
	}
	return cp, nil
}

// parseBody reads a C2SP checkpoint body: origin, decimal size, base64 root hash, extension lines.
func parseBody(text string, cp *checkpoint) error {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasSuffix(text, "\n") || len(lines) < 3 || lines[0] == "" {
		return fmt.Errorf("checkpoint body is not origin, size and root lines: %q", text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return fmt.Errorf("checkpoint size %q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return fmt.Errorf("checkpoint root %q is not the base64 of %d bytes", lines[2], tlog.HashSize)
	}
	cp.Origin, cp.Size, cp.Root = lines[0], size, lines[2]
	cp.Extensions = append(cp.Extensions, lines[3:]...)
	cp.tree.N = size
	copy(cp.tree.Hash[:], root)
	return nil
}

// -- the customhouse proof API --------------------------------------------------------------------

type apiInclusion struct {
	TreeSize   int64  `json:"tree_size"`
	RootHash   string `json:"root_hash"`
	Checkpoint string `json:"checkpoint"`
	Proofs     []struct {
		Index    int64    `json:"index"`
		LeafHash string   `json:"leaf_hash"`
		Entry    string   `json:"entry"`
		Proof    []string `json:"proof"`
	} `json:"proofs"`
}

type apiConsistency struct {
	OldSize int64    `json:"old_size"`
	NewSize int64    `json:"new_size"`
	OldRoot string   `json:"old_root"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

func hexHashes(items []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(items))
	for i, item := range items {
		raw, err := hex.DecodeString(item)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %q is not 64 hex digits", item)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

func sameHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// -- the checks -------------------------------------------------------------------------------------

type inclusion struct {
	TreeSize    int64  `json:"tree_size"`
	Index       int64  `json:"index"`
	LeafHash    string `json:"leaf_hash"`
	EntryBytes  int    `json:"entry_bytes"`
	EntryBundle string `json:"entry_bundle"`
	ProofHashes int    `json:"proof_hashes"`
	APIProof    string `json:"api_proof,omitempty"`
}

type consistency struct {
	OldSize     int64  `json:"old_size"`
	NewSize     int64  `json:"new_size"`
	ProofHashes int    `json:"proof_hashes"`
	APIProof    string `json:"api_proof,omitempty"`
}

type result struct {
	OK          bool          `json:"ok"`
	Error       string        `json:"error,omitempty"`
	Go          string        `json:"go"`
	LogKey      string        `json:"log_key,omitempty"`
	KeyFrom     string        `json:"log_key_from,omitempty"`
	Witnesses   []witnessOut  `json:"witnesses"`
	Checkpoint  *checkpoint   `json:"checkpoint,omitempty"`
	Old         []*checkpoint `json:"old_checkpoints"`
	TreeHash    string        `json:"tree_hash_from_tiles,omitempty"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
	TilesRead   []string      `json:"tiles_read"`
}

type witnessOut struct {
	Key      string `json:"key"`
	Verifier string `json:"verifier"`
	GoError  string `json:"note_newverifier_error,omitempty"`
}

func proveInclusion(r *tileReader, cp *checkpoint, n int64, api *source) (inclusion, error) {
	th := tlog.TileHashReader(cp.tree, r)
	out := inclusion{TreeSize: cp.Size, Index: n}
	entry, bundle, err := r.entry(cp.Size, n)
	if err != nil {
		return out, err
	}
	out.EntryBytes, out.EntryBundle = len(entry), bundle
	leaf := tlog.RecordHash(entry)
	out.LeafHash = hex.EncodeToString(leaf[:])
	stored, err := th.ReadHashes([]int64{tlog.StoredHashIndex(0, n)})
	if err != nil {
		return out, fmt.Errorf("leaf %d of tree %d: reading its hash from the tiles: %v", n, cp.Size, err)
	}
	if stored[0] != leaf {
		return out, fmt.Errorf("leaf %d: tlog.RecordHash of its entry is %s, the level-0 tile holds %s",
			n, hex.EncodeToString(leaf[:]), hex.EncodeToString(stored[0][:]))
	}
	proof, err := tlog.ProveRecord(cp.Size, n, th)
	if err != nil {
		return out, fmt.Errorf("leaf %d of tree %d: tlog.ProveRecord: %v", n, cp.Size, err)
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.tree.Hash, n, leaf); err != nil {
		return out, fmt.Errorf("leaf %d of tree %d: tlog.CheckRecord: %v", n, cp.Size, err)
	}
	out.ProofHashes = len(proof)
	if api == nil {
		return out, nil
	}
	body, err := api.get(fmt.Sprintf("api/v1/ledger/proofs/inclusion?index=%d&size=%d", n, cp.Size))
	if err != nil {
		return out, err
	}
	var answer apiInclusion
	if err := json.Unmarshal(body, &answer); err != nil || len(answer.Proofs) != 1 {
		return out, fmt.Errorf("leaf %d: the API's inclusion answer is not one proof: %v", n, err)
	}
	got := answer.Proofs[0]
	apiProof, err := hexHashes(got.Proof)
	if err != nil {
		return out, err
	}
	apiEntry, err := base64.StdEncoding.DecodeString(got.Entry)
	if err != nil || !bytes.Equal(apiEntry, entry) || got.LeafHash != out.LeafHash || got.Index != n || answer.TreeSize != cp.Size {
		return out, fmt.Errorf("leaf %d: the API names another leaf or entry than the tiles", n)
	}
	if answer.RootHash != hex.EncodeToString(cp.tree.Hash[:]) {
		return out, fmt.Errorf("leaf %d: the API's root %s is not the checkpoint's", n, answer.RootHash)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(apiProof), cp.Size, cp.tree.Hash, n, leaf); err != nil {
		return out, fmt.Errorf("leaf %d of tree %d: tlog.CheckRecord of the API's proof: %v", n, cp.Size, err)
	}
	if !sameHashes(apiProof, proof) {
		return out, fmt.Errorf("leaf %d of tree %d: the API's proof differs from tlog.ProveRecord's", n, cp.Size)
	}
	out.APIProof = "verified, equal to tlog.ProveRecord"
	return out, nil
}

func proveConsistency(r *tileReader, old, cp *checkpoint, api *source) (consistency, error) {
	out := consistency{OldSize: old.Size, NewSize: cp.Size}
	if old.Size > cp.Size {
		return out, fmt.Errorf("old checkpoint of size %d is larger than the newest, %d: a rollback", old.Size, cp.Size)
	}
	th := tlog.TileHashReader(cp.tree, r)
	proof, err := tlog.ProveTree(cp.Size, old.Size, th)
	if err != nil {
		return out, fmt.Errorf("tree %d to %d: tlog.ProveTree: %v", old.Size, cp.Size, err)
	}
	if err := tlog.CheckTree(proof, cp.Size, cp.tree.Hash, old.Size, old.tree.Hash); err != nil {
		return out, fmt.Errorf("tree %d to %d: tlog.CheckTree: %v", old.Size, cp.Size, err)
	}
	out.ProofHashes = len(proof)
	if api == nil {
		return out, nil
	}
	body, err := api.get(fmt.Sprintf("api/v1/ledger/proofs/consistency?old=%d&new=%d", old.Size, cp.Size))
	if err != nil {
		return out, err
	}
	var answer apiConsistency
	if err := json.Unmarshal(body, &answer); err != nil {
		return out, fmt.Errorf("tree %d to %d: the API's consistency answer: %v", old.Size, cp.Size, err)
	}
	apiProof, err := hexHashes(answer.Proof)
	if err != nil {
		return out, err
	}
	if err := tlog.CheckTree(tlog.TreeProof(apiProof), cp.Size, cp.tree.Hash, old.Size, old.tree.Hash); err != nil {
		return out, fmt.Errorf("tree %d to %d: tlog.CheckTree of the API's proof: %v", old.Size, cp.Size, err)
	}
	if !sameHashes(apiProof, proof) {
		return out, fmt.Errorf("tree %d to %d: the API's proof differs from tlog.ProveTree's", old.Size, cp.Size)
	}
	out.APIProof = "verified, equal to tlog.ProveTree"
	return out, nil
}

func defaultLeaves(size int64) []int64 {
	set := map[int64]bool{}
	for _, n := range []int64{0, 1, size / 3, size / 2, size - 2, size - 1} {
		if n >= 0 && n < size {
			set[n] = true
		}
	}
	var out []int64
	for n := range set {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func run(res *result) error {
	logBase := flag.String("log", "", "the log's prefix: a URL (http://host/log) or a directory with checkpoint and tile/")
	vkey := flag.String("vkey", "", "the log's verifier key; default: the one at <log>/key")
	origin := flag.String("origin", "", "the checkpoint origin wanted; default: the log key's name")
	apiBase := flag.String("api", "", "the server's root URL (or a mirror directory) to check the proof API too")
	leavesFlag := flag.String("leaves", "", "comma-separated leaf indexes to prove; default: a spread")
	quorum := flag.Int("quorum", 0, "cosignatures required from the -witness keys")
	var witnessKeys, olds listFlag
	flag.Var(&witnessKeys, "witness", "a witness verifier key (repeatable)")
	flag.Var(&olds, "old", "an earlier signed checkpoint, file or URL (repeatable)")
	flag.Parse()
	if *logBase == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	src := newSource(*logBase)
	var api *source
	if *apiBase != "" {
		api = newSource(*apiBase)
	}

	keyFrom := "-vkey"
	if *vkey == "" {
		data, err := src.get("key")
		if err != nil {
			return fmt.Errorf("reading the log's verifier key: %v", err)
		}
		*vkey = strings.TrimSpace(string(data))
		keyFrom = "<log>/key"
	}
	logVerifier, err := note.NewVerifier(*vkey)
	if err != nil {
		return fmt.Errorf("note.NewVerifier(%q): %v", *vkey, err)
	}
	res.LogKey = fmt.Sprintf("%s+%08x", logVerifier.Name(), logVerifier.KeyHash())
	res.KeyFrom = keyFrom
	if *origin == "" {
		*origin = logVerifier.Name()
	}
	var witnesses []witnessKey
	for _, k := range witnessKeys {
		w, err := newWitnessVerifier(k)
		if err != nil {
			return err
		}
		witnesses = append(witnesses, w)
		res.Witnesses = append(res.Witnesses, witnessOut{
			Key: fmt.Sprintf("%s+%08x", w.verifier.Name(), w.verifier.KeyHash()), Verifier: w.kind, GoError: w.goError,
		})
	}

	msg, err := src.get("checkpoint")
	if err != nil {
		return fmt.Errorf("reading the checkpoint: %v", err)
	}
	cp, err := openCheckpoint("checkpoint", msg, logVerifier, *origin, witnesses, *quorum)
	if err != nil {
		return err
	}
	res.Checkpoint = cp

	reader := &tileReader{src: src, cache: map[string][]byte{}, read: map[string]bool{}}
	defer func() {
		for path := range reader.read {
			res.TilesRead = append(res.TilesRead, path)
		}
		sort.Strings(res.TilesRead)
	}()
	th, err := tlog.TreeHash(cp.Size, tlog.TileHashReader(cp.tree, reader))
	if err != nil {
		return fmt.Errorf("tlog.TreeHash of tree %d from the tiles: %v", cp.Size, err)
	}
	if th != cp.tree.Hash {
		return fmt.Errorf("tlog.TreeHash of tree %d is %s, the checkpoint says %s", cp.Size, th, cp.tree.Hash)
	}
	res.TreeHash = base64.StdEncoding.EncodeToString(th[:])

	leaves := defaultLeaves(cp.Size)
	if *leavesFlag != "" {
		leaves = nil
		for _, item := range strings.Split(*leavesFlag, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(item), 10, 64)
			if err != nil || n < 0 || n >= cp.Size {
				return fmt.Errorf("leaf %q is not in the tree of size %d", item, cp.Size)
			}
			leaves = append(leaves, n)
		}
	}
	for _, n := range leaves {
		inc, err := proveInclusion(reader, cp, n, api)
		res.Inclusion = append(res.Inclusion, inc)
		if err != nil {
			return err
		}
	}

	for _, name := range olds {
		data, err := readFileOrURL(name)
		if err != nil {
			return fmt.Errorf("reading old checkpoint %s: %v", name, err)
		}
		old, err := openCheckpoint(name, data, logVerifier, *origin, witnesses, *quorum)
		if err != nil {
			return err
		}
		res.Old = append(res.Old, old)
		con, err := proveConsistency(reader, old, cp, api)
		res.Consistency = append(res.Consistency, con)
		if err != nil {
			return err
		}
		for _, n := range defaultLeaves(old.Size) {
			inc, err := proveInclusion(reader, old, n, api)
			res.Inclusion = append(res.Inclusion, inc)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func main() {
	res := &result{
		Go:        "golang.org/x/mod/sumdb/note + golang.org/x/mod/sumdb/tlog",
		Witnesses: []witnessOut{}, Old: []*checkpoint{}, Inclusion: []inclusion{},
		Consistency: []consistency{}, TilesRead: []string{},
	}
	err := run(res)
	if err == nil && res.Checkpoint == nil {
		err = errors.New("nothing was checked")
	}
	res.OK = err == nil
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}
