package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// ManifestApplier server-side applies manifests to a cluster, deletes them, and reads
// objects back.
type ManifestApplier interface {
	Apply(ctx context.Context, manifest []byte, fieldManager string) error
	// Delete deletes every object of the manifest (missing ones are fine) and waits until
	// they are gone.
	Delete(ctx context.Context, manifest []byte) error
	// Get reads one object; an error wrapping a NotFound API error if there is none.
	Get(ctx context.Context, apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error)
}

// Applier applies manifests the way `kubectl apply --server-side --force-conflicts`
// does, from devk itself: no kubectl process in the node to start and no discovery
// repeated per manifest, which saved seconds of every start.
type Applier struct {
	dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	// newKindWait bounds the wait for a kind the manifest itself defines (a CRD).
	newKindWait time.Duration
}

// NewApplier returns an Applier for the cluster cfg points at.
func NewApplier(cfg *rest.Config) (*Applier, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)), newKindWait: 30 * time.Second}, nil
}

// Apply applies every object of a multi-document YAML (or JSON) manifest, in order.
func (a *Applier) Apply(ctx context.Context, manifest []byte, fieldManager string) error {
	objs, err := decodeManifest(manifest)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := a.applyOne(ctx, obj, fieldManager); err != nil {
			return fmt.Errorf("apply %s %s: %w", obj.GetKind(), objectName(obj), err)
		}
	}
	return nil
}

// Delete deletes the manifest's objects, last first, and waits up to two minutes for
// them to be gone (as `kubectl delete` does).
func (a *Applier) Delete(ctx context.Context, manifest []byte) error {
	objs, err := decodeManifest(manifest)
	if err != nil {
		return err
	}
	type deletion struct {
		client dynamic.ResourceInterface
		obj    *unstructured.Unstructured
	}
	var deleted []deletion
	for i := len(objs) - 1; i >= 0; i-- {
		client, err := a.resource(ctx, objs[i])
		if meta.IsNoMatchError(err) {
			continue // a kind no longer served (its CRD went first): nothing to delete
		}
		if err != nil {
			return err
		}
		if err := client.Delete(ctx, objs[i].GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", objs[i].GetKind(), objectName(objs[i]), err)
		}
		deleted = append(deleted, deletion{client, objs[i]})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, d := range deleted {
		for {
			_, err := d.client.Get(ctx, d.obj.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s %s is still there 2 minutes after its deletion", d.obj.GetKind(), objectName(d.obj))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// Get reads one object.
func (a *Applier) Get(ctx context.Context, apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(apiVersion)
	obj.SetKind(kind)
	obj.SetNamespace(namespace)
	client, err := a.resource(ctx, obj)
	if err != nil {
		return nil, err
	}
	return client.Get(ctx, name, metav1.GetOptions{})
}

// resource is the client for obj's kind, in its namespace when the kind has one.
func (a *Applier) resource(ctx context.Context, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		return a.dynamic.Resource(mapping.Resource).Namespace(ns), nil
	}
	return a.dynamic.Resource(mapping.Resource), nil
}

func (a *Applier) applyOne(ctx context.Context, obj *unstructured.Unstructured, fieldManager string) error {
	client, err := a.resource(ctx, obj)
	if meta.IsNoMatchError(err) {
		// A kind defined earlier in the same manifest is served once its CRD is
		// established: forget what discovery said and ask again for a while.
		deadline := time.Now().Add(a.newKindWait)
		for meta.IsNoMatchError(err) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			a.mapper.Reset()
			client, err = a.resource(ctx, obj)
		}
	}
	if err != nil {
		return err
	}
	_, err = client.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	return err
}

// decodeManifest splits a manifest into objects, skipping empty documents.
func decodeManifest(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if len(raw) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: raw}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("read manifest: an object lacks apiVersion, kind or metadata.name: %v", raw)
		}
		objs = append(objs, obj)
	}
}

func objectName(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns + "/" + obj.GetName()
	}
	return obj.GetName()
}
