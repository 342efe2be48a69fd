//! A read-through view of a document for hydrating the typed view in one pass per object.
//!
//! autosurgeon reads a struct field by field and a list element by element, one `get` each, and
//! in automerge 0.12 every `get` seeks the document's columns afresh (several microseconds, more
//! than the rest of a customer file's hydration together). [`Cached`] answers those reads from one
//! `map_range` or `list_range` per object, taken on the object's first read: the same values and
//! object IDs `get` returns (the winning value of each key or element), at a fraction of the cost.
//! Everything else is passed through to the document.

use foldhash::{HashMap, HashMapExt as _};
use std::cell::RefCell;
use std::ops::RangeBounds;
use std::rc::Rc;

use automerge::iter::DocItem;
use automerge::{AutoCommit, AutomergeError, ObjId, ObjType, Prop, ReadDoc as _, Value};

/// The visible entries of one object, as `get` would return them.
enum Entries {
    Map(HashMap<String, (Value<'static>, ObjId)>),
    List(Vec<(Value<'static>, ObjId)>),
    /// Text, or an object the document does not have: every read goes to the document.
    Other,
}

/// A document read through a cache of its objects' entries. The document must not change while
/// this view exists (it borrows it).
pub(crate) struct Cached<'a> {
    doc: &'a AutoCommit,
    objects: RefCell<HashMap<ObjId, Rc<Entries>>>,
}

impl<'a> Cached<'a> {
    /// A view that reads each object on its first read.
    #[cfg(test)]
    pub(crate) fn new(doc: &'a AutoCommit) -> Self {
        Cached { doc, objects: RefCell::new(HashMap::new()) }
    }

    /// A view with every map and list reachable from the root read at once, in one pass over the
    /// document (`ReadDoc::iter`, which walks the objects in order instead of seeking each):
    /// for reading the document whole. Objects the pass does not cover are read on first read.
    pub(crate) fn whole(doc: &'a AutoCommit) -> Self {
        let mut objects: HashMap<ObjId, Entries> = HashMap::new();
        // The objects the pass found, with their kind as their parent's entry says.
        let mut found: Vec<(ObjId, ObjType)> = Vec::new();
        let mut current: Option<(std::sync::Arc<ObjId>, Entries)> = None;
        for automerge::iter::DocObjItem { obj, item } in doc.iter() {
            if current.as_ref().is_none_or(|(o, _)| *o != obj) {
                if let Some((o, entries)) = current.take() {
                    objects.insert((*o).clone(), entries);
                }
                let entries = match item {
                    DocItem::Map(_) => Entries::Map(HashMap::new()),
                    DocItem::List(_) => Entries::List(Vec::new()),
                    DocItem::Text(_) => Entries::Other,
                };
                current = Some((obj, entries));
            }
            let Some((_, entries)) = current.as_mut() else { continue };
            let (value, id) = match &item {
                DocItem::Map(i) => (i.value.clone().into_value(), i.id()),
                DocItem::List(i) => (i.value.clone().into_value(), i.id()),
                DocItem::Text(_) => continue,
            };
            if let Value::Object(kind) = value {
                found.push((id.clone(), kind));
            }
            match (entries, item) {
                (Entries::Map(map), DocItem::Map(i)) => {
                    map.insert(i.key.into_owned(), (value, id));
                }
                (Entries::List(list), DocItem::List(i)) if i.index == list.len() => list.push((value, id)),
                // Not what the pass should give: this object is read on its first read instead.
                (entries, _) => *entries = Entries::Other,
            }
        }
        if let Some((o, entries)) = current.take() {
            objects.insert((*o).clone(), entries);
        }
        // Objects without a visible entry are not in the pass: empty.
        for (id, kind) in &found {
            objects.entry(id.clone()).or_insert(match kind {
                ObjType::Map => Entries::Map(HashMap::new()),
                ObjType::List => Entries::List(Vec::new()),
                ObjType::Table | ObjType::Text => Entries::Other,
            });
        }
        // Only maps and lists reached from the root through maps and lists are kept (the pass
        // walks a table as a list, and what is below one is left to be read on first read).
        let mut kept: HashMap<ObjId, Rc<Entries>> = HashMap::new();
        let mut next = vec![automerge::ROOT];
        while let Some(obj) = next.pop() {
            let Some(entries) = objects.remove(&obj) else { continue };
            let children: Box<dyn Iterator<Item = &(Value<'static>, ObjId)>> = match &entries {
                Entries::Map(map) => Box::new(map.values()),
                Entries::List(list) => Box::new(list.iter()),
                Entries::Other => continue,
            };
            for (value, id) in children {
                if matches!(value, Value::Object(ObjType::Map | ObjType::List)) {
                    next.push(id.clone());
                }
            }
            kept.insert(obj, Rc::new(entries));
        }
        Cached { doc, objects: RefCell::new(kept) }
    }

    /// Whether every visible key of the map `obj` satisfies `f` (what `keys(obj).all(f)` says).
    pub(crate) fn all_keys(&self, obj: &ObjId, mut f: impl FnMut(&str) -> bool) -> bool {
        match &*self.entries(obj) {
            Entries::Map(entries) => entries.keys().all(|key| f(key)),
            _ => self.doc.keys(obj).all(|key| f(&key)),
        }
    }

    /// The visible keys of the map `obj`, from the cache (`None`: not a map it holds). For hydrating
    /// a map of entities without `map_range`, which the cache cannot answer (it returns
    /// automerge's own iterator, which seeks the document's columns afresh).
    pub(crate) fn map_keys(&self, obj: &ObjId) -> Option<Vec<String>> {
        match &*self.entries(obj) {
            Entries::Map(entries) => Some(entries.keys().cloned().collect()),
            _ => None,
        }
    }

    fn entries(&self, obj: &ObjId) -> Rc<Entries> {
        if let Some(entries) = self.objects.borrow().get(obj) {
            return entries.clone();
        }
        let entries = Rc::new(match self.doc.object_type(obj) {
            Ok(ObjType::Map | ObjType::Table) => Entries::Map(
                self.doc
                    .map_range(obj, ..)
                    .map(|item| {
                        let id = item.id();
                        (item.key.into_owned(), (item.value.into_value(), id))
                    })
                    .collect(),
            ),
            Ok(ObjType::List) => Entries::List(
                self.doc
                    .list_range(obj, ..)
                    .map(|item| {
                        let id = item.id();
                        (item.value.into_value(), id)
                    })
                    .collect(),
            ),
            Ok(ObjType::Text) | Err(_) => Entries::Other,
        });
        self.objects.borrow_mut().insert(obj.clone(), entries.clone());
        entries
    }
}

impl autosurgeon::ReadDoc for Cached<'_> {
    type Parents<'b>
        = automerge::Parents<'b>
    where
        Self: 'b;

    fn get_heads(&self) -> Vec<automerge::ChangeHash> {
        autosurgeon::ReadDoc::get_heads(self.doc)
    }

    fn get<P: Into<Prop>>(&self, obj: &ObjId, prop: P) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError> {
        let prop = prop.into();
        match (&*self.entries(obj), &prop) {
            (Entries::Map(entries), Prop::Map(key)) => Ok(entries.get(key.as_str()).cloned()),
            (Entries::List(entries), Prop::Seq(index)) => Ok(entries.get(*index).cloned()),
            // Wrong kind of key, text, or no such object: the document's own answer (or error).
            _ => autosurgeon::ReadDoc::get(self.doc, obj, prop),
        }
    }

    fn object_type<O: AsRef<ObjId>>(&self, obj: O) -> Option<ObjType> {
        autosurgeon::ReadDoc::object_type(self.doc, obj)
    }

    fn map_range<'b, O, R>(&'b self, obj: O, range: R) -> automerge::iter::MapRange<'b>
    where
        R: RangeBounds<String> + 'b,
        O: AsRef<ObjId>,
        R: RangeBounds<String>,
    {
        autosurgeon::ReadDoc::map_range(self.doc, obj, range)
    }

    fn list_range<O: AsRef<ObjId>, R: RangeBounds<usize>>(&self, obj: O, range: R) -> automerge::iter::ListRange<'_> {
        autosurgeon::ReadDoc::list_range(self.doc, obj, range)
    }

    fn length<O: AsRef<ObjId>>(&self, obj: O) -> usize {
        match &*self.entries(obj.as_ref()) {
            Entries::List(entries) => entries.len(),
            _ => autosurgeon::ReadDoc::length(self.doc, obj),
        }
    }

    fn text<O: AsRef<ObjId>>(&self, obj: O) -> Result<String, AutomergeError> {
        autosurgeon::ReadDoc::text(self.doc, obj)
    }

    fn parents<O: AsRef<ObjId>>(&self, obj: O) -> Result<Self::Parents<'_>, AutomergeError> {
        autosurgeon::ReadDoc::parents(self.doc, obj)
    }

    fn is_empty(&self) -> bool {
        autosurgeon::ReadDoc::is_empty(self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT, ScalarValue};
    use autosurgeon::ReadDoc as Read;

    /// Every read of every object of `doc`, through the view and straight from the document.
    fn assert_reads_agree(doc: &AutoCommit) {
        assert_view_agrees(doc, &Cached::new(doc));
        assert_view_agrees(doc, &Cached::whole(doc));
    }

    fn assert_view_agrees(doc: &AutoCommit, cached: &Cached<'_>) {
        let mut objects = vec![ROOT];
        while let Some(obj) = objects.pop() {
            let Ok(kind) = automerge::ReadDoc::object_type(doc, &obj) else {
                // An object automerge itself cannot resolve (seen below a table): the view says so too.
                assert_eq!(Read::object_type(cached, &obj), None);
                assert_eq!(Read::get(cached, &obj, "k0").is_err(), Read::get(doc, &obj, "k0").is_err());
                continue;
            };
            assert_eq!(Read::object_type(cached, &obj), Some(kind));
            assert_eq!(Read::length(cached, &obj), Read::length(doc, &obj), "{obj}");
            let mut props: Vec<Prop> = match kind {
                ObjType::Map | ObjType::Table => {
                    let mut keys: Vec<Prop> = automerge::ReadDoc::keys(doc, &obj).map(Prop::from).collect();
                    keys.extend(["missing", "k0", ""].map(Prop::from));
                    keys.push(Prop::Seq(0));
                    keys
                }
                ObjType::List | ObjType::Text => {
                    let len = automerge::ReadDoc::length(doc, &obj);
                    let mut idx: Vec<Prop> = (0..len + 2).map(Prop::Seq).collect();
                    idx.push(Prop::from("k0"));
                    idx
                }
            };
            if matches!(kind, ObjType::Map | ObjType::Table) {
                let keys: Vec<String> = automerge::ReadDoc::keys(doc, &obj).collect();
                let mut seen = Vec::new();
                assert!(cached.all_keys(&obj, |k| {
                    seen.push(k.to_string());
                    true
                }));
                seen.sort();
                assert_eq!(seen, keys, "{obj}");
                if let Some(mut listed) = cached.map_keys(&obj) {
                    listed.sort();
                    assert_eq!(listed, keys, "{obj}");
                }
            }
            // Twice each: the second read comes from the cache.
            props.extend(props.clone());
            for prop in props {
                let direct = Read::get(doc, &obj, prop.clone());
                let through = Read::get(cached, &obj, prop.clone());
                match (&direct, &through) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{obj} {prop:?}"),
                    (Err(_), Err(_)) => {}
                    _ => panic!("{obj} {prop:?}: {direct:?} vs {through:?}"),
                }
                if let Ok(Some((Value::Object(_), id))) = direct
                    && !objects.contains(&id)
                {
                    objects.push(id);
                }
            }
        }
    }

    fn random_edit(doc: &mut AutoCommit, rng: &mut crate::workload::SplitMix64, objects: &mut Vec<(ObjId, ObjType)>) {
        let pick = |rng: &mut crate::workload::SplitMix64, n: usize| (rng.next_u64() % n as u64) as usize;
        let (obj, kind) = objects[pick(rng, objects.len())].clone();
        let value = match pick(rng, 6) {
            0 => ScalarValue::Str(format!("s{}", pick(rng, 5)).into()),
            1 => ScalarValue::Int(pick(rng, 100) as i64),
            2 => ScalarValue::Null,
            3 => ScalarValue::Boolean(true),
            4 => ScalarValue::counter(pick(rng, 10) as i64),
            _ => ScalarValue::F64(1.5),
        };
        match kind {
            ObjType::Map | ObjType::Table => {
                let key = format!("k{}", pick(rng, 6));
                match pick(rng, 10) {
                    0 => {
                        let _ = doc.delete(&obj, key.as_str());
                    }
                    1 => {
                        let made = [ObjType::Map, ObjType::List, ObjType::Text, ObjType::Table][pick(rng, 4)];
                        if let Ok(id) = doc.put_object(&obj, key.as_str(), made) {
                            objects.push((id, made));
                        }
                    }
                    2 => {
                        let _ = doc.increment(&obj, key.as_str(), 3);
                    }
                    _ => {
                        let _ = doc.put(&obj, key.as_str(), value);
                    }
                }
            }
            ObjType::List => {
                let len = automerge::ReadDoc::length(doc, &obj);
                match pick(rng, 5) {
                    0 if len > 0 => {
                        let _ = doc.delete(&obj, pick(rng, len));
                    }
                    1 if len > 0 => {
                        let _ = doc.put(&obj, pick(rng, len), value);
                    }
                    2 => {
                        if let Ok(id) = doc.insert_object(&obj, pick(rng, len + 1), ObjType::Map) {
                            objects.push((id, ObjType::Map));
                        }
                    }
                    _ => {
                        let _ = doc.insert(&obj, pick(rng, len + 1), value);
                    }
                }
            }
            ObjType::Text => {
                let len = automerge::ReadDoc::length(doc, &obj);
                let _ = doc.splice_text(&obj, pick(rng, len + 1), 0, "ab");
            }
        }
    }

    #[test]
    fn reads_through_the_view_are_the_documents_own() {
        let mut rng = crate::workload::SplitMix64::new(11);
        for round in 0..60 {
            let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
            let mut objects = vec![(ROOT, ObjType::Map)];
            for _ in 0..(5 + round) {
                random_edit(&mut a, &mut rng, &mut objects);
            }
            a.commit();
            // A concurrent replica: conflicting values, deletions against edits.
            let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
            let mut b_objects = objects.clone();
            for _ in 0..(3 + round / 2) {
                random_edit(&mut a, &mut rng, &mut objects);
                random_edit(&mut b, &mut rng, &mut b_objects);
            }
            a.merge(&mut b).unwrap();
            assert_reads_agree(&a);
        }
    }

    #[test]
    fn counters_read_with_their_increments() {
        let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        a.put(ROOT, "n", ScalarValue::counter(1)).unwrap();
        let list = a.put_object(ROOT, "l", ObjType::List).unwrap();
        a.insert(&list, 0, ScalarValue::counter(5)).unwrap();
        a.commit();
        let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
        a.increment(ROOT, "n", 2).unwrap();
        b.increment(ROOT, "n", 4).unwrap();
        b.increment(&list, 0, 1).unwrap();
        a.merge(&mut b).unwrap();
        assert_reads_agree(&a);
        let cached = Cached::new(&a);
        assert_eq!(Read::get(&cached, &ROOT, "n").unwrap().unwrap().0, Value::counter(7));
    }
}
