// Command writer builds a BoltDB file from a JSON list of entries, for trivy's test database.
//
// Input (stdin): [{"path": ["bucket", "nested bucket", ..., "key"], "value": <any JSON>}, ...]
// Every path element but the last names a bucket (created when missing); the last is the key,
// and the value is stored as its compact JSON encoding, which is what trivy-db reads back.
// Usage: writer OUTPUT.db < entries.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

type entry struct {
	Path  []string        `json:"path"`
	Value json.RawMessage `json:"value"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: writer OUTPUT.db < entries.json")
		os.Exit(2)
	}
	var entries []entry
	if err := json.NewDecoder(os.Stdin).Decode(&entries); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	db, err := bolt.Open(os.Args[1], 0o644, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, e := range entries {
			if len(e.Path) < 2 {
				return fmt.Errorf("path %v needs at least a bucket and a key", e.Path)
			}
			bkt, err := tx.CreateBucketIfNotExists([]byte(e.Path[0]))
			if err != nil {
				return err
			}
			for _, name := range e.Path[1 : len(e.Path)-1] {
				if bkt, err = bkt.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
			var compact json.RawMessage
			if compact, err = json.Marshal(e.Value); err != nil {
				return err
			}
			if err = bkt.Put([]byte(e.Path[len(e.Path)-1]), compact); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(1)
	}
}
