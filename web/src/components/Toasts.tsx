import { useStore } from '../state/store'
import { dismissToast, toasts } from '../state/toasts'

export function Toasts() {
  const list = useStore(toasts)
  return (
    <div className="toasts" aria-live="polite">
      {list.map((t) => (
        <div
          key={t.id}
          className={`toast toast-${t.kind}`}
          role={t.kind === 'error' ? 'alert' : 'status'}
          data-testid="action-result"
          data-kind={t.kind}
        >
          <span className="toast-text">{t.text}</span>
          <button type="button" className="toast-close" onClick={() => dismissToast(t.id)} aria-label="dismiss">
            ×
          </button>
        </div>
      ))}
    </div>
  )
}
